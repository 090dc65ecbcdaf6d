"""The scenarios of the cost harness; each returns the figures of one repetition.

Figures are per unit of work: CPU-ms per WhatsApp message (bridge process only, from
/proc), AWS requests per burst or per message by operation (the bridge's own counter), and
the latencies the customer or the agent would see. Every window starts before the first
send and ends a settle time after the last arrival, so nothing the work caused is missed.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.chaos.cluster import Cluster
from bench.cost import probe
from bench.cost.traffic import (
    Burst,
    agent_replies,
    bursts_for,
    send_bursts,
    tumbling_window,
    wa_id,
    wait_delivered,
    wait_sent,
)
from bench.harness import percentile

SETTLE_S = 2.0
TUMBLING_WINDOW_S = 20.0  # the old sample's fixed window (reference limits.md §a)


@dataclass(slots=True)
class Figures:
    """One repetition of one scenario."""

    values: dict[str, float]
    requests: dict[str, float] = field(default_factory=dict)  # per unit, by operation
    call_ms: dict[str, float] = field(default_factory=dict)  # mean call time, by operation
    samples: dict[str, list[float]] = field(default_factory=dict)  # for the chart

    def as_json(self) -> dict[str, Any]:
        return {"values": self.values, "requests": self.requests, "call_ms": self.call_ms}


def _mean_burst_latency(before: probe.Reading, after: probe.Reading, quiet_s: float) -> float:
    """The bridge's own view of a burst's added latency, mean: from its quiet window's end
    (counted from the last message reaching the buffer) to its delivery."""
    total = after.burst_latency[0] - before.burst_latency[0]
    bursts = after.burst_latency[1] - before.burst_latency[1]
    return round(total / bursts - quiet_s, 3) if bursts else 0.0


def _per(spent: probe.Spent, units: int) -> dict[str, float]:
    return {op: round(n / units, 3) for op, n in sorted(spent.requests.items())}


def _call_ms(spent: probe.Spent) -> dict[str, float]:
    return {op: round(1000 * s, 1) for op, s in sorted(spent.call_mean_s.items())}


async def _settled(cluster: Cluster, http: httpx.AsyncClient) -> probe.Reading:
    await asyncio.sleep(SETTLE_S)
    return await probe.read(cluster, http)


async def idle(cluster: Cluster, http: httpx.AsyncClient, *, seconds: float) -> Figures:
    before = await probe.read(cluster, http)
    await asyncio.sleep(seconds)
    after = await probe.read(cluster, http)
    spent = after.since(before)
    return Figures(
        {
            "cpu_pct": round(100 * spent.cpu_s["bridge"] / spent.wall_s, 3),
            "rss_mb": round(after.rss_mb["bridge"], 1),
            "requests_per_min": round(60 * spent.total_requests / spent.wall_s, 1),
        },
        {op: round(60 * n / spent.wall_s, 2) for op, n in sorted(spent.requests.items())},
    )


async def inbound(
    cluster: Cluster,
    http: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    bursts: Sequence[Burst],
    *,
    spread_s: float,
    quiet_s: float,
    rng: random.Random,
    timeout_s: float,
) -> tuple[Figures, dict[int, str]]:
    """Every burst sent and delivered; figures, and each customer's contact."""
    before = await probe.read(cluster, http)
    await send_bursts(sim, bursts, rng, spread_s=spread_s)
    deliveries = await wait_delivered(sim, bursts, timeout_s=timeout_s)
    after = await _settled(cluster, http)
    spent = after.since(before)
    messages = sum(len(b.markers) for b in bursts)
    added = sorted(deliveries[i].last_at - b.sent_at[-1] - quiet_s for i, b in enumerate(bursts))
    pieces, waits = tumbling_window(bursts, TUMBLING_WINDOW_S)
    values = {
        "bursts": len(bursts),
        "messages": messages,
        "msgs_per_s": round(messages / spread_s, 1),
        "cpu_ms_per_msg": round(1000 * spent.cpu_s["bridge"] / messages, 3),
        "aws_cpu_ms_per_msg": round(1000 * spent.cpu_s["aws"] / messages, 3),
        "requests_per_burst": round(spent.total_requests / len(bursts), 2),
        "requests_per_msg": round(spent.total_requests / messages, 2),
        "connect_msgs_per_burst": round(statistics.mean(d.items for d in deliveries.values()), 3),
        "added_p50_s": round(percentile(added, 0.5), 3),
        "added_p99_s": round(percentile(added, 0.99), 3),
        "quota_wait_s_per_burst": round(
            probe.quota_wait_s(before, after, "SendMessage") / len(bursts), 3
        ),
        "buffer_to_connect_s": _mean_burst_latency(before, after, quiet_s),
        "intake_lag_s": round(spent.intake_lag_mean_s.get("inbound", 0.0), 3),
        "rss_mb": round(after.rss_mb["bridge"], 1),
        "tumbling_connect_msgs_per_burst": round(statistics.mean(pieces), 3),
        "tumbling_added_p50_s": round(percentile(sorted(waits), 0.5), 3),
        "tumbling_added_p99_s": round(percentile(sorted(waits), 0.99), 3),
        "unbuffered_connect_msgs_per_burst": round(messages / len(bursts), 3),
    }
    contacts = {b.customer: deliveries[i].contact_id for i, b in enumerate(bursts)}
    return (
        Figures(
            values,
            _per(spent, len(bursts)),
            _call_ms(spent),
            {"added_s": added, "tumbling_s": waits},
        ),
        contacts,
    )


async def outbound(
    cluster: Cluster,
    http: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    contacts: Sequence[str],
    *,
    run: int,
    per_chat: int,
    timeout_s: float,
    gap_s: float = 0.0,
    first_agent: int = 0,  # agents are numbered on from here (their replies' markers)
) -> Figures:
    """Agents reply into `contacts`, `per_chat` replies each: all at once (`gap_s` 0: a
    stress of every agent writing in the same second), or `gap_s` apart, the agents'
    starts spread over one gap (a contact centre's steady traffic)."""
    before = await probe.read(cluster, http)
    written = await asyncio.gather(
        *(
            agent_replies(
                sim,
                contact,
                run=run,
                agent=first_agent + index,
                count=per_chat,
                gap_s=gap_s,
                start_s=gap_s * index / len(contacts),
            )
            for index, contact in enumerate(contacts)
        )
    )
    replies = [r for chat in written for r in chat]
    sent = await wait_sent(sim, replies, timeout_s=timeout_s)
    done = await probe.read(cluster, http)  # the busy time only, no settling
    busy = done.since(before)
    after = await _settled(cluster, http)
    spent = after.since(before)
    latency = sorted(sent[r.marker] - r.written_at for r in replies)
    if latency[0] < 0:  # both times are the simulator's: a marker matched an older reply
        raise RuntimeError(f"a reply was sent {-latency[0]:.1f} s before it was written")
    return Figures(
        {
            "messages": len(replies),
            "cpu_ms_per_msg": round(1000 * spent.cpu_s["bridge"] / len(replies), 3),
            "requests_per_msg": round(spent.total_requests / len(replies), 2),
            "latency_p50_ms": round(1000 * percentile(latency, 0.5), 1),
            "latency_p99_ms": round(1000 * percentile(latency, 0.99), 1),
            "msgs_per_s": round(len(replies) / busy.wall_s, 1),
            "intake_lag_ms": round(1000 * spent.intake_lag_mean_s.get("outbound", 0.0), 1),
            # The embedded AWS serves one request at a time (service/local/moto_patches.py):
            # near 100 % it is what the latency waits for.
            "aws_cpu_pct": round(100 * busy.cpu_s["aws"] / busy.wall_s, 1),
            # The order gate asks Connect's transcript (8 calls a second per instance).
            "transcript_quota_wait_ms_per_msg": round(
                1000 * probe.quota_wait_s(before, after, "GetTranscript") / len(replies), 1
            ),
        },
        _per(spent, len(replies)),
        _call_ms(spent),
        {"outbound_s": latency},
    )


async def memory(
    cluster: Cluster,
    http: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    *,
    customers: int,
    first_customer: int,
    concurrency: int,
    timeout_s: float,
) -> Figures:
    """`customers` each send one text that stays buffered (a quiet window of minutes);
    the bridge's RSS before and once all are buffered, read at every quarter."""
    await asyncio.sleep(SETTLE_S)
    before = await probe.read(cluster, http)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for customer in range(first_customer, first_customer + customers):
        queue.put_nowait(customer)

    async def sender() -> None:
        while not queue.empty():
            customer = queue.get_nowait()
            response = await sim.post(
                f"/sandbox/customers/{wa_id(customer)}/messages",
                json={"type": "text", "text": {"body": "waiting for an agent"}},
            )
            response.raise_for_status()

    started = time.monotonic()
    senders = [asyncio.create_task(sender()) for _ in range(concurrency)]
    points: list[float] = []  # KB per buffered customer at each quarter of the way
    deadline = started + timeout_s
    next_mark = customers / 4
    while True:
        reading = await probe.read(cluster, http)
        buffered = reading.gauges.get("bridge_buffer_customers", 0.0)
        while buffered >= next_mark * 0.999 and len(points) < 4:
            grown_mb = reading.rss_mb["bridge"] - before.rss_mb["bridge"]
            points.append(round(1024 * grown_mb / buffered, 2))
            next_mark += customers / 4
        if buffered >= customers:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {buffered:.0f} of {customers} customers buffered")
        await asyncio.sleep(0.5)
    await asyncio.gather(*senders)
    took = time.monotonic() - started
    grown = reading.rss_mb["bridge"] - before.rss_mb["bridge"]
    return Figures(
        {
            "customers": customers,
            "rss_before_mb": round(before.rss_mb["bridge"], 1),
            "rss_after_mb": round(reading.rss_mb["bridge"], 1),
            "rss_growth_mb": round(grown, 1),
            "kb_per_customer": round(1024 * grown / customers, 2),
            "intake_msgs_per_s": round(customers / took, 1),
            "intake_cpu_ms_per_msg": round(
                1000 * reading.since(before).cpu_s["bridge"] / customers, 3
            ),
        },
        samples={"kb_per_customer_by_quarter": points},
    )


def new_bursts(run: int, first: int, count: int, burst_number: int, seed: int) -> list[Burst]:
    return bursts_for(run, range(first, first + count), burst_number, random.Random(seed))
