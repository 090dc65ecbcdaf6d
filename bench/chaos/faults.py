"""The five faults, each injected once the load is running; each returns its window.

A fault's window ends when the harness undoes it: the killed or stopped worker's
replacement is being started (a, b), the simulator's failure rules are cleared (c), the
embedded AWS is continued (d), the last hostile event is sent (e). Recovery time is
measured from that end (see `recovery`). Facts worth reading next to the numbers (exit
codes, drain times, injected failures, accepted hostile events) go into `notes`.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.chaos.cluster import Cluster
from bench.chaos.flood import FloodTargets, flood
from bench.chaos.profile import WORKER_ENV, Profile
from bench.chaos.traffic import Ledger, Traffic

# How long a SIGTERMed worker may take beyond its drain deadline before it is SIGKILLed.
_EXIT_MARGIN_S = 10.0
# (c): a share of calls fails with each error, for the window (rules apply in order).
THROTTLE_RULES: tuple[dict[str, Any], ...] = (
    {"service": "connect", "operation": "StartChatContact", "error": "ThrottlingException"},
    {"service": "connect", "operation": "StartChatContact", "error": "InternalServiceException"},
    {"service": "connectparticipant", "operation": "SendMessage", "error": "ThrottlingException"},
    {
        "service": "connectparticipant",
        "operation": "SendMessage",
        "error": "InternalServerException",
    },
    {
        "service": "connectparticipant",
        "operation": "CreateParticipantConnection",
        "error": "ThrottlingException",
    },
    {
        "service": "socialmessaging",
        "operation": "SendWhatsAppMessage",
        "error": "InternalServiceException",
    },
    {
        "service": "socialmessaging",
        "operation": "SendWhatsAppMessage",
        "error": "DependencyException",
    },
)
THROTTLE_RATE = 0.3


@dataclass(frozen=True, slots=True)
class FaultWindow:
    start: float  # epoch seconds, like the simulator's timestamps
    end: float


@dataclass(slots=True)
class FaultContext:
    cluster: Cluster
    sim: httpx.AsyncClient
    profile: Profile
    traffic: Traffic
    ledger: Ledger
    flood_targets: FloodTargets
    seed: int
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


Fault = Callable[[FaultContext], Awaitable[FaultWindow]]


async def sigkill_each(ctx: FaultContext) -> FaultWindow:
    """(a) SIGKILL each worker in turn (or the profile's number), restarting each at once."""
    count = ctx.profile.kills or ctx.cluster.workers
    start = time.time()
    end = start
    for index in range(count):
        if index:
            await asyncio.sleep(ctx.profile.kill_interval_s)
        await ctx.cluster.kill_worker(index)
        end = time.time()
        await ctx.cluster.restart_worker(index)
        ctx.notes.append(f"killed bridge-{index + 1}, ready again in {time.time() - end:.1f}s")
    return FaultWindow(start, end)


async def _lease_holder(ctx: FaultContext) -> int:
    """The worker holding the most stream shards (where SIGTERM's drain matters most)."""
    headers = {"Authorization": f"Bearer {ctx.cluster.token}"}
    held: list[int] = []
    async with httpx.AsyncClient(timeout=5, headers=headers) as http:
        for index in range(ctx.cluster.workers):
            try:
                response = await http.get(f"{ctx.cluster.admin_url(index)}/admin/shards")
                held.append(len(response.json().get("held", [])))
            except (httpx.HTTPError, ValueError):
                held.append(-1)
    return max(range(len(held)), key=lambda i: held[i])


async def sigterm_one(ctx: FaultContext) -> FaultWindow:
    """(b) SIGTERM the worker holding the most leases; restart it once it has exited."""
    index = await _lease_holder(ctx)
    drain_s = float(WORKER_ENV["BRIDGE_DRAIN_TIMEOUT_S"])
    start = time.time()
    code = await ctx.cluster.signal_worker(index, signal.SIGTERM, wait_s=drain_s + _EXIT_MARGIN_S)
    end = time.time()
    if code is None:
        ctx.notes.append(f"bridge-{index + 1} still running {end - start:.0f}s after SIGTERM")
        await ctx.cluster.kill_worker(index)
        end = time.time()
    else:
        ctx.notes.append(f"bridge-{index + 1} exited {code} {end - start:.1f}s after SIGTERM")
    await ctx.cluster.restart_worker(index)
    return FaultWindow(start, end)


async def throttle(ctx: FaultContext) -> FaultWindow:
    """(c) Connect throttling and 5xx, WhatsApp 5xx, on a share of calls for a window."""
    start = time.time()
    try:
        for rule in THROTTLE_RULES:
            response = await ctx.sim.post("/sandbox/faults", json=rule | {"rate": THROTTLE_RATE})
            response.raise_for_status()
        await asyncio.sleep(ctx.profile.throttle_s)
        rules = (await ctx.sim.get("/sandbox/faults")).json()["faults"]
    finally:
        (await ctx.sim.post("/sandbox/faults", json={"action": "clear"})).raise_for_status()
    end = time.time()
    injected = sum(int(rule["injected"]) for rule in rules)
    ctx.notes.append(f"{injected} calls failed by the simulator (rate {THROTTLE_RATE} per rule)")
    ctx.extra["injected"] = {f"{r['operation']}/{r['error']}": r["injected"] for r in rules}
    return FaultWindow(start, end)


async def outage(ctx: FaultContext) -> FaultWindow:
    """(d) SIGSTOP the embedded AWS for the profile's outage, then SIGCONT."""
    start = time.time()
    ctx.cluster.pause_aws()
    try:
        await asyncio.sleep(ctx.profile.outage_s)
    finally:
        ctx.cluster.resume_aws()
    return FaultWindow(start, time.time())


async def hostile_flood(ctx: FaultContext) -> FaultWindow:
    """(e) Thousands of hostile events each way, interleaved with the valid traffic."""
    start = time.time()
    result = await flood(
        ctx.flood_targets,
        hostile_inbound=ctx.profile.hostile_inbound,
        hostile_outbound=ctx.profile.hostile_outbound,
        odd=ctx.profile.odd_inbound,
        contacts=sorted(ctx.traffic.chats.values()),
        seed=ctx.seed,
        budget_s=ctx.profile.flood_budget_s,
    )
    end = time.time()
    ctx.ledger.sent.extend(result.odd_sent)
    accepted = ", ".join(
        f"{label} {result.accepted[label]}/{result.attempted[label]}"
        for label in sorted(result.attempted)
    )
    ctx.notes.append(f"accepted {accepted} in {end - start:.0f}s")
    if result.not_sent:
        unsent = ", ".join(f"{label} {n}" for label, n in sorted(result.not_sent.items()))
        ctx.notes.append(f"FLOOD CUT at {ctx.profile.flood_budget_s:.0f}s: not sent {unsent}")
    if result.odd_skipped:
        ctx.notes.append(f"{result.odd_skipped} odd messages with lone surrogates not sent")
    ctx.extra["flood"] = {
        "attempted": dict(result.attempted),
        "accepted": dict(result.accepted),
        "odd_skipped_lone_surrogates": result.odd_skipped,
        "not_sent_budget": dict(result.not_sent),
    }
    return FaultWindow(start, end)
