"""Inbound benchmark: bursty customers through the whole sandbox, measured at Connect.

Runs the embedded AWS and the simulator in this process (threads) and the bridge as its
own process (`python -m service run`, production defaults unless overridden), so the
bridge's CPU time can be read from /proc. Simulated customers send bursts of 2-5 texts
with human-like gaps below the quiet window, pausing longer between bursts.

Prints, per run:
- Connect messages per burst (the target is exactly 1) and WhatsApp messages per Connect
  message;
- added latency: from a burst's last message (its publication to SNS) to the Connect
  transcript item, minus the quiet window (p50 / p90 / p99 / max);
- bridge CPU-ms per WhatsApp message and its peak RSS;
- the old sample's policy as a baseline, computed from the same send times: 20 s
  tumbling windows aligned on the clock (reference limits.md §a), split bursts counted.

Usage: python -m bench.inbound_bursts [--customers 20] [--bursts 3] [--quiet 5] [--json F]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.harness import bench_sandbox, cpu_seconds, peak_rss_mb, percentile

PREFIX = "bench"
TOKEN = "bench-admin-token-0123456789"  # noqa: S105  the sandbox bridge's fixed token
TUMBLING_WINDOW_S = 20.0


@dataclass
class Burst:
    customer: str
    texts: list[str]
    sent_at: list[float] = field(default_factory=list)

    @property
    def last_sent_at(self) -> float:
        return self.sent_at[-1]


@dataclass
class Run:
    bursts: list[Burst] = field(default_factory=list)


async def customer(
    http: httpx.AsyncClient,
    run: Run,
    index: int,
    *,
    bursts: int,
    quiet_s: float,
    rng: random.Random,
) -> None:
    wa_id = f"52155{index:08d}"
    await asyncio.sleep(rng.uniform(0, 3))
    for number in range(bursts):
        burst = Burst(wa_id, [f"c{index}-b{number}-m{i}" for i in range(rng.randint(2, 5))])
        for position, body in enumerate(burst.texts):
            if position:
                # Typing the next short message: well under the quiet window.
                await asyncio.sleep(rng.uniform(0.3, min(2.0, quiet_s * 0.4)))
            response = await http.post(
                f"/sandbox/customers/{wa_id}/messages",
                json={"type": "text", "text": {"body": body}},
            )
            response.raise_for_status()
            burst.sent_at.append(time.time())
        run.bursts.append(burst)
        await asyncio.sleep(quiet_s + rng.uniform(3.0, 6.0))


def tumbling_baseline(run: Run) -> tuple[float, list[float]]:
    """Connect messages per burst and per-burst latency under aligned 20 s windows."""
    splits: list[int] = []
    latencies: list[float] = []
    for burst in run.bursts:
        windows = {int(t // TUMBLING_WINDOW_S) for t in burst.sent_at}
        splits.append(len(windows))
        window_end = (int(burst.last_sent_at // TUMBLING_WINDOW_S) + 1) * TUMBLING_WINDOW_S
        latencies.append(window_end - burst.last_sent_at)
    return statistics.mean(splits), latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--bursts", type=int, default=3)
    parser.add_argument("--quiet", type=float, default=5.0)
    parser.add_argument("--max-wait", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    bridge_env = {
        "BRIDGE_BUFFER_QUIET_S": str(args.quiet),
        "BRIDGE_BUFFER_MAX_WAIT_S": str(args.max_wait),
    }
    async with (
        bench_sandbox(prefix=PREFIX, token=TOKEN, bridge_env=bridge_env) as bench,
        httpx.AsyncClient(base_url=bench.sim_url, timeout=30) as http,
    ):
        cpu_before = cpu_seconds(bench.pid)
        run = Run()
        started = time.time()
        await asyncio.gather(
            *(
                customer(http, run, i, bursts=args.bursts, quiet_s=args.quiet, rng=rng)
                for i in range(args.customers)
            )
        )
        expected = sum(len(b.texts) for b in run.bursts)
        deadline = time.time() + args.max_wait + 30
        items: list[dict[str, Any]] = []
        while time.time() < deadline:
            contacts = (await http.get("/sandbox/contacts")).json()["contacts"]
            items = [
                i
                for contact in contacts
                for i in contact["transcript"]
                if i["participantRole"] == "CUSTOMER" and i["contentType"] == "text/plain"
            ]
            if sum(len(i["content"].split("\n")) for i in items) >= expected:
                break
            await asyncio.sleep(0.5)
        cpu = cpu_seconds(bench.pid) - cpu_before
        rss = peak_rss_mb(bench.pid)
        took = time.time() - started

    by_text = {line: item for item in items for line in item["content"].split("\n")}
    delivered = sum(1 for b in run.bursts for t in b.texts if t in by_text)
    per_burst = [len({by_text[t]["id"] for t in b.texts if t in by_text}) for b in run.bursts]
    latencies = [
        datetime.fromisoformat(by_text[b.texts[-1]]["time"]).timestamp()
        - b.last_sent_at
        - args.quiet
        for b in run.bursts
        if b.texts[-1] in by_text
    ]
    base_split, base_latency = tumbling_baseline(run)
    report = {
        "customers": args.customers,
        "bursts": len(run.bursts),
        "whatsapp_messages": expected,
        "delivered_messages": delivered,
        "connect_messages": len(items),
        "connect_messages_per_burst_mean": statistics.mean(per_burst),
        "connect_messages_per_burst_max": max(per_burst),
        "whatsapp_messages_per_connect_message": expected / max(1, len(items)),
        "added_latency_s": {
            "p50": percentile(latencies, 0.5),
            "p90": percentile(latencies, 0.9),
            "p99": percentile(latencies, 0.99),
            "max": max(latencies),
        },
        "bridge_cpu_ms_per_message": 1000 * cpu / max(1, expected),
        "bridge_peak_rss_mb": rss,
        "run_s": took,
        "baseline_tumbling_20s": {
            "connect_messages_per_burst_mean": base_split,
            "latency_after_last_message_s": {
                "p50": percentile(base_latency, 0.5),
                "p99": percentile(base_latency, 0.99),
            },
        },
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
