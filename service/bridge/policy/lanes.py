"""Each customer's outbound lane: the agent's items, sent one at a time in the agent's order.

The outbound queue hands agent items (messages, attachments, typing, read receipts, the
end of the chat) to the raw-messages table under the customer's key, so they reach the
one worker that owns the customer's stream shard (DESIGN §2). Here that worker keeps, per
customer, the items not yet handled, ordered by the agent's clock (`AbsoluteTime`, then
the order they reached this worker), and handles them one at a time:

- an agent message is first put to the `gate`, which asks Connect's transcript whether an
  earlier one is still on its way: if the gate checked and nothing is (`GateAnswer.CLEAR`),
  the message goes at once, with no reorder wait; the transcript knows every earlier item,
  so a wait would only add latency (measured: p50 0.94 s with the wait on every message);
- an item the gate could not check (`UNCHECKED`: typing, receipts, no session yet, no
  GetTranscript call to spare, a failing lookup, no gate) waits `reorder_window_s` after it
  reached this worker before it is handled, so
  an earlier item that a slower task wrote a moment later still goes first. The window is
  counted from arrival, not from the agent's clock: measured with two workers under load
  (bench/outbound_latency.py), counting from `AbsoluteTime` cut p50 from 1.17 s to 0.94 s
  but let 2 of 72 replies overtake, since two tasks' paths can differ by more than the
  window when both are slow; what protects order is the gap between arrivals;
- an agent message whose predecessor Connect has but this lane has not seen yet
  (`MISSING`) waits for it, at most `max_gap_wait_s`: a window cannot cover a path that
  runs seconds behind the next one under load;
- a retried item holds the lane: nothing overtakes it (backoff, or the wait the outcome
  names), until it succeeds, is parked, or has been stuck `max_stuck_s` (then it is parked
  and `on_given_up` tells the agent);
- a shard handed over (`drop_shard`) stops its lanes' work without acknowledging it, so the
  next owner handles it; a graceful handoff or shutdown (`flush_shard`, `flush_all`)
  handles what is pending at once, without the reorder wait.

A lane has a task only while it holds items, inside the owner's TaskGroup.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Final, Generic, Protocol, TypeVar

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from service.backoff import Backoff
from service.bridge.events.transport import Acknowledgement, Outcome, Settle, StreamItem
from service.bridge.policy.owned_tasks import OwnedTasks
from service.clock import SYSTEM_CLOCK, Clock

log = structlog.get_logger(__name__)

_WAIT_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800)


class LaneItem(Protocol):
    @property
    def customer_key(self) -> str: ...

    @property
    def order_key(self) -> float:
        """The agent's clock (`AbsoluteTime`, epoch seconds)."""
        ...


ItemT = TypeVar("ItemT", bound=LaneItem)
GateItemT_contra = TypeVar("GateItemT_contra", contravariant=True)


class GateAnswer(enum.Enum):
    """What the gate knows of the items written before one."""

    CLEAR = "clear"  # checked: none is still on its way; the item may go at once
    MISSING = "missing"  # one is still on its way: the item waits for it
    UNCHECKED = "unchecked"  # not known: the reorder window alone orders the item


class OrderGate(Protocol[GateItemT_contra]):
    """Knows, from outside the lane, whether an earlier item is still on its way."""

    async def check(
        self, item: GateItemT_contra, pending: Sequence[GateItemT_contra]
    ) -> GateAnswer: ...

    def settled(self, item: GateItemT_contra) -> None: ...

    def forget(self, customer_key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class LaneConfig:
    reorder_window_s: float = 0.5
    retry_base_s: float = 1.0
    retry_max_s: float = 60.0
    max_stuck_s: float = 3600.0
    max_items: int = 50_000
    # How long a head may wait for an earlier item its gate says is missing, and how
    # often it asks again meanwhile (an arrival wakes it at once).
    max_gap_wait_s: float = 20.0
    gap_poll_s: float = 0.5

    def __post_init__(self) -> None:
        if (
            self.reorder_window_s < 0
            or self.max_stuck_s <= 0
            or self.max_items < 1
            or self.max_gap_wait_s < 0
            or self.gap_poll_s <= 0
        ):
            raise ValueError("lane limits must be positive")


class LaneMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.items = Gauge(
            "bridge_lane_items", "Agent items waiting in customers' lanes", registry=registry
        )
        self.handled = Counter(
            "bridge_lane_items_handled",
            "Agent items handled, by how they ended",
            ["settle"],
            registry=registry,
        )
        self.retries = Counter(
            "bridge_lane_retries", "Agent items retried in their lane", registry=registry
        )
        self.gap_waits = Counter(
            "bridge_lane_gap_waits",
            "Times a lane held an agent item for an earlier one Connect had and it had not",
            registry=registry,
        )
        self.gap_timeouts = Counter(
            "bridge_lane_gap_timeouts",
            "Agent items sent after waiting max_gap_wait_s for an earlier one that never came",
            registry=registry,
        )
        self.waited = Histogram(
            "bridge_lane_wait_seconds",
            "From an agent item reaching its lane to the end of its handling",
            buckets=_WAIT_BUCKETS,
            registry=registry,
        )


@dataclass(slots=True, eq=False)
class _Entry(Generic[ItemT]):
    record: StreamItem
    ack: Acknowledgement
    item: ItemT
    arrival: int
    arrived_at: float
    dropped: bool = False
    gated_since: float | None = None  # when the gate was first asked about this head
    gate: GateAnswer | None = None  # None: to be asked (again)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def order(self) -> tuple[float, int]:
        return (self.item.order_key, self.arrival)


@dataclass(slots=True, eq=False)
class _Lane(Generic[ItemT]):
    key: str
    pending: list[_Entry[ItemT]] = field(default_factory=list)  # kept in order
    current: _Entry[ItemT] | None = None
    forced: bool = False  # handle pending at once (handoff, shutdown)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    hurry: asyncio.Event = field(default_factory=asyncio.Event)  # cuts a retry wait short
    task: asyncio.Task[None] | None = None

    def held(self) -> Iterable[_Entry[ItemT]]:
        return itertools.chain([self.current] if self.current else [], self.pending)


class LanesNotRunningError(RuntimeError):
    """`add` was called before `run` started or after it ended."""


class AgentLanes(Generic[ItemT]):
    def __init__(
        self,
        *,
        handle: Callable[[ItemT], Awaitable[Outcome]],
        registry: CollectorRegistry,
        config: LaneConfig | None = None,
        on_given_up: Callable[[ItemT, str], Awaitable[None]] | None = None,
        gate: OrderGate[ItemT] | None = None,
        # The context each lane's task runs in. `app.py` passes the session store's shared
        # reads: an item's gate check and its handling read the customer's session once
        # (measured: 2.5 GetItems an agent message without it).
        scope: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self._handle = handle
        self._scope = scope
        self._config = config or LaneConfig()
        self._on_given_up = on_given_up
        self._gate = gate
        self._clock = clock
        self._rng = rng or random.Random()
        self._backoff = Backoff(base_s=self._config.retry_base_s, max_s=self._config.retry_max_s)
        self._metrics = LaneMetrics(registry)
        self._lanes: dict[str, _Lane[ItemT]] = {}
        self._arrivals = 0
        self._held = 0
        self._room = asyncio.Event()
        self._life = OwnedTasks(
            not_running=lambda: LanesNotRunningError("the lanes are not running"),
            on_close=self._room.set,
        )
        self.running = self._life.running

    async def run(self, stop: asyncio.Event) -> None:
        await self._life.run(stop, lambda: [lane.task for lane in self._lanes.values()])

    # ------------------------------------------------------------------ intake

    async def add(self, record: StreamItem, ack: Acknowledgement, item: ItemT) -> None:
        """Queue `item` in its customer's lane; waits while the lanes are full."""
        while self._held >= self._config.max_items:
            self._check_running()
            self._room.clear()
            await self._room.wait()
        self._check_running()
        lane = self._lanes.get(item.customer_key)
        if lane is None:
            lane = self._start(item.customer_key)
        self._arrivals += 1
        entry = _Entry(record, ack, item, self._arrivals, self._clock.monotonic())
        lane.pending.append(entry)
        lane.pending.sort(key=lambda e: e.order)
        self._held += 1
        self._metrics.items.set(self._held)
        lane.wake.set()

    async def flush_shard(self, shard_key: str) -> None:
        entries: list[_Entry[ItemT]] = []
        for lane in list(self._lanes.values()):
            mine = [e for e in lane.held() if e.record.shard_key == shard_key]
            if mine:
                entries.extend(mine)
                lane.forced = True
                lane.wake.set()
                lane.hurry.set()
        await _all_done(entries)

    async def drop_shard(self, shard_key: str) -> None:
        dropped = 0
        for lane in list(self._lanes.values()):
            keep = [e for e in lane.pending if e.record.shard_key != shard_key]
            for entry in lane.pending:
                if entry.record.shard_key == shard_key:
                    self._release(entry)
                    dropped += 1
            lane.pending = keep
            if lane.current is not None and lane.current.record.shard_key == shard_key:
                lane.current.dropped = True
                lane.hurry.set()
            lane.wake.set()
            if self._gate is not None:
                self._gate.forget(lane.key)
        if dropped:
            log.info("lanes_shard_dropped", shard_key=shard_key, items=dropped)

    async def flush_all(self) -> None:
        try:
            entries: list[_Entry[ItemT]] = []
            for lane in list(self._lanes.values()):
                entries.extend(lane.held())
                lane.forced = True
                lane.wake.set()
                lane.hurry.set()
            await _all_done(entries)
        finally:
            self._life.flushed()

    def snapshot(self) -> list[dict[str, Any]]:
        now = self._clock.monotonic()
        return [
            {
                "customer_key": lane.key,
                "items": len(lane.pending) + (1 if lane.current else 0),
                "oldest_s": round(max((now - e.arrived_at for e in lane.held()), default=0), 3),
            }
            for lane in self._lanes.values()
            if lane.current or lane.pending
        ]

    # ------------------------------------------------------------------ the lane's task

    def _start(self, key: str) -> _Lane[ItemT]:
        lane: _Lane[ItemT] = _Lane(key=key)
        lane.task = self._life.start(self._serve(lane), name="agent-lane")
        self._lanes[key] = lane
        return lane

    async def _serve(self, lane: _Lane[ItemT]) -> None:
        try:
            with self._scope():
                await self._serve_pending(lane)
        except Exception:
            # A bug here must not end the TaskGroup (every other lane): this lane's items
            # stay unacknowledged and are handled again after a restart or handoff.
            log.exception("lane_failed", customer=lane.key)
        finally:
            for entry in list(lane.held()):
                self._release(entry)
            if self._lanes.get(lane.key) is lane:
                del self._lanes[lane.key]
            self._room.set()

    async def _serve_pending(self, lane: _Lane[ItemT]) -> None:
        while lane.pending:
            head = lane.pending[0]
            if not lane.forced and head.gate is None and self._gate is not None:
                # Asked again from the top: the head may change while the gate answers.
                await self._ask_gate(lane, head, self._gate)
                continue
            due = head.arrived_at + self._config.reorder_window_s
            if (
                not lane.forced
                and head.gate is not GateAnswer.CLEAR
                and self._clock.monotonic() < due
            ):
                lane.wake.clear()
                await self._clock.wait(lane.wake, due)
                continue
            lane.current = lane.pending.pop(0)
            try:
                await self._work(lane, lane.current)
                if not lane.current.dropped and self._gate is not None:
                    self._gate.settled(lane.current.item)
            finally:
                self._release(lane.current)
                lane.current = None

    async def _ask_gate(
        self, lane: _Lane[ItemT], head: _Entry[ItemT], gate: OrderGate[ItemT]
    ) -> None:
        now = self._clock.monotonic()
        if head.gated_since is None:
            head.gated_since = now
        deadline = head.gated_since + self._config.max_gap_wait_s
        if now >= deadline:
            self._metrics.gap_timeouts.inc()
            log.warning("lane_gap_wait_gave_up", waited_s=round(now - head.gated_since, 1))
            head.gate = GateAnswer.UNCHECKED
            return
        lane.wake.clear()  # before asking: an arrival during the question must wake us
        try:
            answer = await gate.check(head.item, [e.item for e in lane.pending])
        except Exception as exc:  # noqa: BLE001  order is best effort here; never hold on it
            log.warning("lane_order_check_failed", error=type(exc).__name__)
            answer = GateAnswer.UNCHECKED
        if answer is not GateAnswer.MISSING:
            head.gate = answer
            return
        self._metrics.gap_waits.inc()
        await self._clock.wait(lane.wake, min(now + self._config.gap_poll_s, deadline))

    async def _work(self, lane: _Lane[ItemT], entry: _Entry[ItemT]) -> None:
        started = self._clock.monotonic()
        attempt = 0
        while not entry.dropped:
            attempt += 1
            # Cleared before the call, not after: a drop_shard arriving during it must
            # still cut the backoff short.
            lane.hurry.clear()
            outcome = await self._handle(entry.item)
            if outcome.settle is Settle.DONE:
                entry.ack.delivered()
                self._finished(entry, Settle.DONE)
                return
            if outcome.settle is Settle.PARK:
                await entry.ack.park(outcome.reason)
                self._finished(entry, Settle.PARK)
                return
            stuck = self._clock.monotonic() - started
            if stuck >= self._config.max_stuck_s:
                reason = f"still failing after {stuck:.0f} s: {outcome.reason}"
                if self._on_given_up is not None:
                    try:
                        await self._on_given_up(entry.item, reason)
                    except Exception as exc:  # noqa: BLE001  the note is a courtesy; parking is not
                        log.warning("lane_give_up_note_failed", error=type(exc).__name__)
                await entry.ack.park(reason)
                self._finished(entry, Settle.PARK)
                return
            delay = self._backoff.delay(attempt, self._rng)
            if outcome.retry_after_s is not None:
                delay = max(delay, outcome.retry_after_s)
            self._metrics.retries.inc()
            log.info("lane_retry", attempt=attempt, delay_s=round(delay, 2), reason=outcome.reason)
            deadline = self._clock.monotonic() + min(delay, self._config.max_stuck_s - stuck)
            await self._clock.wait(lane.hurry, deadline)
        log.info("lane_item_dropped")  # its shard went to another worker, which handles it

    def _finished(self, entry: _Entry[ItemT], settle: Settle) -> None:
        self._metrics.handled.labels(settle.value).inc()
        self._metrics.waited.observe(max(0.0, self._clock.monotonic() - entry.arrived_at))

    # ------------------------------------------------------------------ bookkeeping

    def _check_running(self) -> None:
        self._life.check_running()

    def _release(self, entry: _Entry[ItemT]) -> None:
        if entry.done.is_set():
            return
        entry.done.set()
        self._held -= 1
        self._metrics.items.set(self._held)
        self._room.set()


async def _all_done(entries: Sequence[_Entry[Any]]) -> None:
    for entry in entries:
        await entry.done.wait()
