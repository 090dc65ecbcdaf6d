"""Outbound latency: from an agent's item in Connect to its SendWhatsAppMessage.

Runs the sandbox as processes (the chaos harness's `Cluster`: embedded AWS, simulator, N
bridge workers), opens one chat per customer, then has every agent send rounds of rapid
replies (each POST right after the previous one answered, as a fast typist or a pasted
list would). Both times come from the simulator's one clock: the item's `AbsoluteTime`
and the outbox entry's time, so the figure is the bridge's whole path (SNS → SQS → the
router → the raw-messages table → its stream → the customer's lane → WhatsApp).

WhatsApp's pair rate (a burst of 10, then one message per 6 s per customer) is a deliberate
hold, not latency: the bridge's pacer is opened wide here unless `--real-pacing` is given.

Prints one JSON report: p50 / p90 / p99 / max latency, and lost, doubled and out-of-order
replies (per chat, the order the agent wrote them).

Usage: python -m bench.outbound_latency [--workers 2] [--chats 6] [--rounds 5] [--replies 12]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.chaos.cluster import Cluster


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _at(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


async def _open_chats(sim: httpx.AsyncClient, chats: int, timeout_s: float) -> dict[str, str]:
    """One chat per customer, streaming on (an agent is routed only then); wa_id → contact."""
    customers = [f"4477009{index:05d}" for index in range(chats)]
    for wa_id in customers:
        response = await sim.post(
            f"/sandbox/customers/{wa_id}/messages",
            json={"type": "text", "text": {"body": f"hello from {wa_id}"}},
        )
        response.raise_for_status()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        contacts = (await sim.get("/sandbox/contacts")).json()["contacts"]
        found: dict[str, str] = {}
        for contact in contacts:
            streaming = any(s.get("active") for s in contact.get("streaming") or [])
            if contact.get("endedAt") is not None or not streaming:
                continue
            for item in contact["transcript"]:
                for wa_id in customers:
                    if f"hello from {wa_id}" in (item.get("content") or ""):
                        found[wa_id] = contact["contactId"]
        if len(found) == chats:
            return found
        await asyncio.sleep(0.3)
    msg = f"only {len(found)} of {chats} chats opened in {timeout_s:.0f} s"
    raise TimeoutError(msg)


async def _agent(
    sim: httpx.AsyncClient, contact: str, *, chat: int, rounds: int, replies: int, pause_s: float
) -> list[tuple[str, float]]:
    """The markers this agent wrote, in order, with their Connect AbsoluteTime."""
    sent: list[tuple[str, float]] = []
    for round_ in range(rounds):
        for n in range(replies):
            marker = f"c{chat}r{round_}n{n:02d}"
            response = await sim.post(
                f"/sandbox/contacts/{contact}/agent/messages", json={"text": f"{marker} ok"}
            )
            response.raise_for_status()
            sent.append((marker, _at(response.json()["time"])))
        await asyncio.sleep(pause_s)
    return sent


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, choices=(1, 2, 3))
    parser.add_argument("--chats", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--replies", type=int, default=12)
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between rounds")
    parser.add_argument("--real-pacing", action="store_true")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the workers")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--work-dir", type=Path, help="keep the workers' logs here")
    args = parser.parse_args()

    env = {"BRIDGE_BUFFER_QUIET_S": "1", "BRIDGE_LOG_LEVEL": "WARNING"}
    if not args.real_pacing:
        env["BRIDGE_PACING_PAIR_BURST"] = "100000"
    env |= dict(pair.split("=", 1) for pair in args.env)
    with tempfile.TemporaryDirectory(prefix="outbound-latency-") as temporary:
        work = args.work_dir or Path(temporary)
        async with (
            Cluster(workers=args.workers, work_dir=work, worker_env=env) as cluster,
            httpx.AsyncClient(base_url=cluster.sim_url, timeout=30) as sim,
        ):
            chats = await _open_chats(sim, args.chats, timeout_s=60)
            written = await asyncio.gather(
                *(
                    _agent(
                        sim,
                        contact,
                        chat=i,
                        rounds=args.rounds,
                        replies=args.replies,
                        pause_s=args.pause,
                    )
                    for i, contact in enumerate(chats.values())
                )
            )
            expected = {m for chat in written for m, _ in chat}
            deadline = time.monotonic() + 60
            while True:
                outbox = (await sim.get("/sandbox/whatsapp/outbox")).json()["messages"]
                bodies = [
                    (e["message"].get("text", {}).get("body", ""), _at(e["time"])) for e in outbox
                ]
                arrived = [(body.split(" ", 1)[0], at) for body, at in bodies]
                if expected <= {m for m, _ in arrived} or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)

    counts = Counter(m for m, _ in arrived if m in expected)
    first: dict[str, float] = {}
    for marker, at in arrived:
        first.setdefault(marker, at)
    latencies = sorted(first[m] - t for chat in written for m, t in chat if m in first)
    out_of_order = 0
    for chat in written:
        order = [m for m, _ in arrived if m in {x for x, _ in chat}]
        seen = list(dict.fromkeys(order))
        out_of_order += sum(1 for a, b in itertools.pairwise(seen) if a > b)
    report: dict[str, Any] = {
        "workers": args.workers,
        "chats": args.chats,
        "replies": len(expected),
        "lost": len(expected - set(first)),
        "doubled": sum(1 for c in counts.values() if c > 1),
        "out_of_order_pairs": out_of_order,
        "latency_s": {
            "p50": round(_percentile(latencies, 0.5), 3),
            "p90": round(_percentile(latencies, 0.9), 3),
            "p99": round(_percentile(latencies, 0.99), 3),
            "max": round(latencies[-1], 3),
            "mean": round(statistics.mean(latencies), 3),
        },
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
