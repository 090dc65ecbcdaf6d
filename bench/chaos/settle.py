"""Waiting until nothing is in flight, so late duplicates and stragglers are seen.

Quiet means, all at once: every message sent for certain has arrived, both queues are
empty (nothing visible, in flight or delayed: a message a killed worker had received is
in flight until its visibility timeout), and no worker holds a buffered customer. Then a
grace period lets a lease handover replay what it would replay. If the deadline comes
first, the campaign says what was still pending instead of pretending it settled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from bench.chaos.checker import Sent
from bench.chaos.observe import inbound_arrivals, outbound_arrivals, snapshot
from bench.chaos.queues import depth

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

_POLL_S = 2.0


@dataclass(frozen=True, slots=True)
class Pending:
    missing: int = 0
    queued: dict[str, int] = field(default_factory=dict)
    buffered: int = 0
    unreachable: tuple[str, ...] = ()
    # The simulator failed to report its transcripts or outbox (an HTTP error).
    records_error: str | None = None

    @property
    def quiet(self) -> bool:
        return (
            not self.missing
            and not any(self.queued.values())
            and not self.buffered
            and not self.unreachable
            and self.records_error is None
        )

    def describe(self) -> str:
        parts = [f"{self.missing} not arrived"] if self.missing else []
        if self.records_error is not None:
            parts.append(f"simulator records unreadable ({self.records_error})")
        parts += [f"{n} in {name} queue" for name, n in self.queued.items() if n]
        if self.buffered:
            parts.append(f"{self.buffered} buffered")
        if self.unreachable:
            parts.append(f"{len(self.unreachable)} worker admin API(s) unreachable")
        return ", ".join(parts) or "nothing"


@dataclass(frozen=True, slots=True)
class Settled:
    quiet: bool
    waited_s: float
    pending: Pending
    # (seconds into the wait, what was pending) each time that changed: why it took long.
    trace: tuple[tuple[float, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Probes:
    sim: httpx.AsyncClient
    sqs: SQSClient
    queue_urls: dict[str, str]
    admin_urls: Sequence[str]
    token: str


async def _buffered(admin_urls: Sequence[str], token: str) -> tuple[int, tuple[str, ...]]:
    buffered = 0
    unreachable: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=5, headers=headers) as http:
        for url in admin_urls:
            try:
                response = await http.get(f"{url}/admin/buffers")
                response.raise_for_status()
            except httpx.HTTPError:
                unreachable.append(url)
                continue
            buffered += len(response.json().get("customers", []))
    return buffered, tuple(unreachable)


async def pending(probes: Probes, sent: Sequence[Sent]) -> Pending:
    queued = {name: await depth(probes.sqs, url) for name, url in probes.queue_urls.items()}
    buffered, unreachable = await _buffered(probes.admin_urls, probes.token)
    try:
        seen = await snapshot(probes.sim)
    except httpx.HTTPError as exc:
        return Pending(0, queued, buffered, unreachable, records_error=type(exc).__name__)
    arrived = {a.marker for a in inbound_arrivals(seen.contacts)}
    arrived |= {a.marker for a in outbound_arrivals(seen.outbox)}
    missing = sum(1 for m in sent if m.certain and m.marker not in arrived)
    return Pending(missing, queued, buffered, unreachable)


async def settle(
    probes: Probes, sent: Sequence[Sent], *, deadline: float, grace_s: float
) -> Settled:
    """Poll until quiet or `deadline` (monotonic), then wait `grace_s` more."""
    started = time.monotonic()
    trace: list[tuple[float, str]] = []
    while True:
        state = await pending(probes, sent)
        described = state.describe()
        if not trace or trace[-1][1] != described:
            trace.append((round(time.monotonic() - started, 1), described))
        if state.quiet or time.monotonic() >= deadline:
            break
        await asyncio.sleep(_POLL_S)
    waited = time.monotonic() - started
    await asyncio.sleep(grace_s)
    return Settled(state.quiet, waited, state, tuple(trace))
