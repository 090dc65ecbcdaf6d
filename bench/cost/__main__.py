"""`make bench`: what a message costs the bridge, measured, against the goals.

Runs the sandbox as processes (embedded AWS, simulator, one bridge; the chaos harness's
`Cluster`), the bridge with `BRIDGE_COUNT_AWS_REQUESTS` on and production defaults
otherwise, and runs each scenario `--repeats` times:

- idle: no traffic; the bridge's CPU share, RSS, and its background requests per minute;
- inbound-new-chats: each customer sends one burst into a new chat (Connect's quota
  starts 5 chats a second, so customers arrive at about that rate);
- inbound-live-chats: the same customers burst again into their live chats, at about 45
  WhatsApp messages a second (12.9 bursts a second: more than Connect's SendMessage quota
  of 10 a second per instance, so bursts queue for it; the queueing is shown apart); the
  old sample's 20 s tumbling window and no buffering computed on the same send times;
- inbound-live-latency: the added latency after the quiet window, with bursts into live
  chats at 8 a second, within that quota (what the bridge adds, not what Connect's quota
  does);
- outbound: agents reply into those chats, several messages each, all in the same second
  (CPU and calls per message; a stress for the latency);
- outbound-paced: agents of other chats reply at a typist's pace, `PACED_REPLIES` each
  `AGENT_GAP_S` apart (50 agents: ~7 replies a second, within the 8 a second of Connect's
  GetTranscript quota that the order gate spends): the outbound latency;
- memory-10k: a fresh bridge with a quiet window of minutes; 10,000 customers each send
  a text that stays buffered; RSS growth.

Prints the table (median [min-max] over the repetitions, against each goal) and AWS
requests by operation; writes `bench/results/cost.json` and `bench/results/latency.png`.

Usage: python -m bench.cost [--repeats 3] [--customers 200] [--memory-customers 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from bench.chaos.cluster import Cluster
from bench.cost import report, scenarios
from bench.cost.scenarios import Figures

# Production settings but for the counter (the sandbox turns request validation on).
BASE_ENV = {
    "BRIDGE_COUNT_AWS_REQUESTS": "true",
    "BRIDGE_AWS_VALIDATE_REQUESTS": "false",
    "BRIDGE_LOG_LEVEL": "WARNING",
}
# Customers stay buffered for the whole memory run.
MEMORY_ENV = {
    "BRIDGE_BUFFER_QUIET_S": "900",
    "BRIDGE_BUFFER_MAX_WAIT_S": "1800",
    "BRIDGE_BUFFER_MAX_CUSTOMERS": "50000",
    "BRIDGE_BUFFER_MAX_MESSAGES": "100000",
}
STARTUP_SETTLE_S = 5.0
CHATS_PER_S = 5.0  # StartChatContact's default quota, paced by the bridge
LIVE_MSGS_PER_S = 45.0
# Connect's SendMessage quota is 10 a second per instance (reference/limits.md §1): at 45
# messages a second bursts arrive faster than that and wait for it. The latency run stays
# at 80 % of the quota, with fewer customers so the whole bench keeps within 10 minutes.
LATENCY_BURSTS_PER_S = 8.0
AGENT_GAP_S = 7.0  # between an agent's replies in outbound-paced
PACED_REPLIES = 3
LATENCY_SHARE = 0.64  # of --customers, per repetition (128 of 200: 16 s of bursts)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cost", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--customers", type=int, default=200, help="per inbound repetition")
    parser.add_argument("--chats", type=int, default=50, help="chats agents reply into")
    parser.add_argument("--replies", type=int, default=6, help="replies per chat")
    parser.add_argument("--memory-customers", type=int, default=10_000)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds per idle window")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the bridge")
    parser.add_argument("--json", type=Path, default=Path("bench/results/cost.json"))
    parser.add_argument("--chart", type=Path, default=Path("bench/results/latency.png"))
    return parser


async def _main_cluster(
    args: argparse.Namespace, env: dict[str, str], work: Path
) -> dict[str, list[Figures]]:
    results: dict[str, list[Figures]] = defaultdict(list)
    quiet_s = float(env.get("BRIDGE_BUFFER_QUIET_S", "5"))
    # New chats arrive at the pace Connect starts them; bursts into live chats at about
    # 45 WhatsApp messages a second (3.5 per burst), the rate the cost goals were set at.
    new_spread_s = args.customers / CHATS_PER_S
    live_spread_s = args.customers * 3.5 / LIVE_MSGS_PER_S
    latency_customers = max(1, round(args.customers * LATENCY_SHARE))
    phases = (
        ("inbound-new-chats", args.customers, new_spread_s),
        ("inbound-live-chats", args.customers, live_spread_s),
        ("inbound-live-latency", latency_customers, latency_customers / LATENCY_BURSTS_PER_S),
    )
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with (
        Cluster(workers=1, work_dir=work, worker_env=env) as cluster,
        httpx.AsyncClient(timeout=30) as http,
        httpx.AsyncClient(base_url=cluster.sim_url, timeout=120, limits=limits) as sim,
    ):
        # Every repetition opens new chats and none ends: above Connect's default 500
        # concurrent chats (a quota AWS raises on request) StartChatContact would refuse.
        answer = await sim.post("/sandbox/config", json={"max_active_chats": 100_000})
        answer.raise_for_status()
        await asyncio.sleep(STARTUP_SETTLE_S)
        for _ in range(args.repeats):
            results["idle"].append(await scenarios.idle(cluster, http, seconds=args.idle))
            _progress("idle", results["idle"][-1])
        contacts: list[dict[int, str]] = []
        # Each phase bursts the same customers again: the first opens their chats.
        for burst_number, (scenario, customers, spread_s) in enumerate(phases):
            for run in range(args.repeats):
                bursts = scenarios.new_bursts(
                    run, run * args.customers, customers, burst_number, seed=run
                )
                figures, by_customer = await scenarios.inbound(
                    cluster,
                    http,
                    sim,
                    bursts,
                    spread_s=spread_s,
                    quiet_s=quiet_s,
                    rng=random.Random(1000 * burst_number + run),
                    timeout_s=2 * new_spread_s + 120,
                )
                results[scenario].append(figures)
                _progress(scenario, figures)
                if scenario == "inbound-live-chats":
                    contacts.append(by_customer)
        outbound_runs = (
            ("outbound", 0.0, args.replies),
            ("outbound-paced", AGENT_GAP_S, PACED_REPLIES),
        )
        for scenario, gap_s, replies in outbound_runs:
            # Different chats for each: WhatsApp's pair rate would hold a seventh reply.
            first = 0 if gap_s == 0 else args.chats
            for run in range(args.repeats):
                chats = list(contacts[run].values())[first : first + args.chats]
                figures = await scenarios.outbound(
                    cluster,
                    http,
                    sim,
                    chats,
                    run=run,
                    per_chat=replies,
                    timeout_s=120,
                    gap_s=gap_s,
                    first_agent=first,
                )
                results[scenario].append(figures)
                _progress(scenario, figures)
    return results


async def _memory_cluster(
    args: argparse.Namespace, env: dict[str, str], work: Path
) -> list[Figures]:
    async with (
        Cluster(workers=1, work_dir=work, worker_env=env | MEMORY_ENV) as cluster,
        httpx.AsyncClient(timeout=30) as http,
        httpx.AsyncClient(base_url=cluster.sim_url, timeout=120) as sim,
    ):
        await asyncio.sleep(STARTUP_SETTLE_S)
        figures = await scenarios.memory(
            cluster,
            http,
            sim,
            customers=args.memory_customers,
            first_customer=10_000_000,
            concurrency=32,
            timeout_s=600,
        )
        _progress("memory-10k", figures)
        return [figures]


def _progress(scenario: str, figures: Figures) -> None:
    shown = ", ".join(f"{k} {v:g}" for k, v in figures.values.items())
    print(f"[{scenario}] {shown}", file=sys.stderr, flush=True)


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607  git from PATH, as make finds it
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


async def _main(args: argparse.Namespace) -> int:
    env = BASE_ENV | dict(pair.split("=", 1) for pair in args.env)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as work:
        results = await _main_cluster(args, env, Path(work) / "main")
        if args.memory_customers > 0:
            results["memory-10k"] = await _memory_cluster(args, env, Path(work) / "memory")
    took = time.monotonic() - started

    print(report.table(results))
    print()
    print(report.requests_table(results, "inbound-new-chats", "burst"))
    print(report.requests_table(results, "inbound-live-chats", "burst"))
    print(report.requests_table(results, "outbound", "message"))
    print(report.requests_table(results, "idle", "minute"))
    print()
    print(report.calls_table(results, "inbound-live-latency"))
    print(report.calls_table(results, "outbound-paced"))
    print(f"\n{args.repeats} repetitions, {took:.0f} s")

    document: dict[str, Any] = {
        "commit": _commit(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": _cpus(), "python": platform.python_version()},
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "chart")},
        "bridge_env": env,
        "took_s": round(took, 1),
        "rows": report.rows(results),
        "scenarios": {name: [f.as_json() for f in runs] for name, runs in results.items()},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=1, default=str) + "\n")
    report.chart(results, args.chart)
    print(f"wrote {args.json} and {args.chart}")
    return 0


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(_main(_parser().parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
