"""Each customer's outbound lane (`policy.lanes.AgentLanes`), on a fake clock.

`handle` is scripted per item (`Script`): it answers the outcomes queued for the item
(DONE once none is left), records the order of its calls and their times, and can hold an
item until the test lets it go. Acknowledgements (`FakeAck`) write what happened to a
journal shared with `on_given_up`, so a test can assert the order of the two. The backoff's
jitter is pinned to its upper end (`UpperJitter`), so a retry's delay is exactly the
backoff's ceiling: 1 s, then 2, 4, 8 ... with the default `retry_base_s` of 1 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import random
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from service.bridge.events.transport import DONE, Outcome, park, retry
from service.bridge.policy.lanes import AgentLanes, GateAnswer, LaneConfig, LanesNotRunningError
from tests.support.clock import FakeClock, settle
from tests.support.waiting import eventually

WINDOW = 0.5  # LaneConfig's default reorder window

DELIVERED = "delivered"
PARKED = "parked"
GIVEN_UP = "given_up"


# ---------------------------------------------------------------- test doubles


@dataclass(frozen=True)
class Record:
    """A stream record as the bridge sees it (`StreamItem`)."""

    shard_key: str
    shard_id: str
    sequence_number: str
    new_image: dict[str, Any]


@dataclass(frozen=True)
class Item:
    """An agent item as the lanes see it (`LaneItem`); `name` identifies it in the tests."""

    customer_key: str
    name: str
    order_key: float


@dataclass
class FakeAck:
    """The bridge's `Acknowledgement`, writing to the harness's journal."""

    name: str
    journal: list[tuple[str, str]]
    reasons: dict[str, str]

    def delivered(self) -> None:
        self.journal.append((DELIVERED, self.name))

    async def park(self, reason: str) -> None:
        self.journal.append((PARKED, self.name))
        self.reasons[self.name] = reason


@dataclass
class Script:
    """The lanes' `handle`."""

    clock: FakeClock
    outcomes: dict[str, deque[Outcome | Exception]] = field(default_factory=dict)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    times: list[tuple[str, float]] = field(default_factory=list)
    in_flight: Counter[str] = field(default_factory=Counter)
    most_in_flight: Counter[str] = field(default_factory=Counter)

    def answer(self, name: str, *outcomes: Outcome | Exception) -> None:
        """Queue the outcomes of `name`'s next calls (DONE once they are used up)."""
        self.outcomes.setdefault(name, deque()).extend(outcomes)

    def hold(self, name: str) -> asyncio.Event:
        """Calls for `name` wait until the returned event is set."""
        return self.gates.setdefault(name, asyncio.Event())

    async def __call__(self, item: Item) -> Outcome:
        self.calls.append(item.name)
        self.times.append((item.name, self.clock.monotonic()))
        customer = item.customer_key
        self.in_flight[customer] += 1
        self.most_in_flight[customer] = max(self.most_in_flight[customer], self.in_flight[customer])
        try:
            gate = self.gates.get(item.name)
            if gate is not None:
                await gate.wait()
            queued = self.outcomes.get(item.name)
            outcome = queued.popleft() if queued else DONE
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        finally:
            self.in_flight[customer] -= 1


class UpperJitter(random.Random):
    """Backoff jitter pinned to its upper end: every delay is the backoff's ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return max(a, b)


@dataclass
class Harness:
    lanes: AgentLanes[Item]
    clock: FakeClock
    handle: Script
    registry: CollectorRegistry
    stop: asyncio.Event
    task: asyncio.Task[None]
    journal: list[tuple[str, str]]
    reasons: dict[str, str] = field(default_factory=dict)  # parked item → its reason
    given_up: list[tuple[str, str]] = field(default_factory=list)
    give_up_error: Exception | None = None
    _seq: int = 0

    async def add(self, customer: str, name: str, order: float, *, shard: str = "s1") -> None:
        self._seq += 1
        record = Record(
            shard_key=shard,
            shard_id=f"shardId-{shard}",
            sequence_number=f"{self._seq:021d}",
            new_image={"customer": {"S": customer}, "message_id": {"S": f"agent#{name}"}},
        )
        ack = FakeAck(name, self.journal, self.reasons)
        await self.lanes.add(record, ack, Item(customer, name, order))

    async def gave_up(self, item: Item, reason: str) -> None:
        self.journal.append((GIVEN_UP, item.name))
        self.given_up.append((item.name, reason))
        if self.give_up_error is not None:
            raise self.give_up_error

    def settled(self, name: str) -> str | None:
        """How `name` was acknowledged (delivered / parked), None while it is not."""
        return next((what for what, n in self.journal if n == name and what != GIVEN_UP), None)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


async def without_time_passing(call: Awaitable[None]) -> None:
    """Await `call`, which must end with no time passing: a hang fails here, at once."""
    task = asyncio.ensure_future(call)
    try:
        await settle()
        assert task.done(), "still waiting: it should not need time to pass"
        await task
    finally:
        task.cancel()


Make = Callable[..., Awaitable[Harness]]


@pytest.fixture(autouse=True)
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """What the lanes logged, as dicts; nothing is rendered (a traceback costs a second)."""
    with capture_logs() as captured:
        yield captured


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    harnesses: list[Harness] = []

    async def build(gate: Any = None, **config: Any) -> Harness:
        clock = FakeClock()
        registry = CollectorRegistry()
        handle = Script(clock)
        journal: list[tuple[str, str]] = []
        stop = asyncio.Event()
        holder: list[Harness] = []

        async def gave_up(item: Item, reason: str) -> None:
            await holder[0].gave_up(item, reason)

        lanes = AgentLanes[Item](
            handle=handle,
            registry=registry,
            config=LaneConfig(**config),
            on_given_up=gave_up,
            gate=gate,
            clock=clock,
            rng=UpperJitter(),
        )
        task = asyncio.create_task(lanes.run(stop))
        await lanes.running.wait()
        harness = Harness(lanes, clock, handle, registry, stop, task, journal)
        holder.append(harness)
        harnesses.append(harness)
        return harness

    yield build
    for harness in harnesses:
        for gate in harness.handle.gates.values():
            gate.set()
        harness.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await harness.task
        acks = Counter(name for what, name in harness.journal if what != GIVEN_UP)
        assert all(n == 1 for n in acks.values()), f"an item acknowledged twice: {acks}"


# ---------------------------------------------------------------- order


async def test_items_added_out_of_order_within_the_window_go_in_the_agents_order(make):
    h = await make()
    await h.add("A", "third", 3.0)
    await h.clock.advance(0.25)
    await h.add("A", "first", 1.0)  # written by a slower task, a moment later
    await h.add("A", "second", 2.0)
    await h.add("A", "second-bis", 2.0)  # same instant: the order they arrived in

    await h.clock.advance(1.0)

    assert h.handle.calls == ["first", "second", "second-bis", "third"]
    assert [name for what, name in h.journal if what == DELIVERED] == h.handle.calls


async def test_an_item_arriving_after_another_started_goes_after_it(make):
    h = await make()
    gate = h.handle.hold("later")
    await h.add("A", "later", 5.0)
    await h.clock.advance(WINDOW)
    assert h.handle.calls == ["later"]

    # Earlier on the agent's clock, but `later` is already being sent: nothing overtakes it.
    await h.add("A", "after-3", 3.0)
    await h.add("A", "after-1", 1.0)
    gate.set()
    await settle()
    assert h.handle.calls == ["later"], "the newcomers still wait their reorder window"

    await h.clock.advance(WINDOW)

    assert h.handle.calls == ["later", "after-1", "after-3"]
    assert h.settled("after-3") == DELIVERED


async def test_nothing_is_handled_before_the_reorder_window_passes(make):
    h = await make()
    await h.add("A", "a1", 1.0)

    await h.clock.advance(WINDOW / 2)
    assert h.handle.calls == []
    await h.clock.advance(WINDOW / 2)

    assert h.handle.calls == ["a1"]
    assert h.handle.times == [("a1", 1_000.0 + WINDOW)]
    assert h.settled("a1") == DELIVERED


async def test_flush_all_handles_everything_at_once_without_the_window(make):
    h = await make(reorder_window_s=30.0)
    await h.add("A", "a2", 2.0)
    await h.add("A", "a1", 1.0)
    await h.add("B", "b1", 1.0, shard="s2")

    await without_time_passing(h.lanes.flush_all())  # returns once all is handled

    assert sorted(h.handle.calls) == ["a1", "a2", "b1"]
    assert h.handle.calls.index("a1") < h.handle.calls.index("a2")
    assert {h.settled(n) for n in ("a1", "a2", "b1")} == {DELIVERED}
    assert h.lanes.snapshot() == []


async def test_flush_shard_handles_that_shard_at_once_and_leaves_the_others(make):
    h = await make(reorder_window_s=30.0)
    await h.add("A", "a2", 2.0)
    await h.add("A", "a1", 1.0)
    await h.add("B", "b1", 1.0, shard="s2")

    await without_time_passing(h.lanes.flush_shard("s1"))

    assert h.handle.calls == ["a1", "a2"]
    assert h.settled("b1") is None
    assert [row["customer_key"] for row in h.lanes.snapshot()] == ["B"]
    await h.clock.advance(30.0)
    assert h.settled("b1") == DELIVERED


# ---------------------------------------------------------------- one at a time


async def test_one_item_at_a_time_per_customer_and_customers_in_parallel(make):
    h = await make()
    gates = {name: h.handle.hold(name) for name in ("a1", "a2", "b1")}
    await h.add("A", "a1", 1.0)
    await h.add("A", "a2", 2.0)
    await h.add("B", "b1", 1.0)

    await h.clock.advance(WINDOW)

    assert sorted(h.handle.calls) == ["a1", "b1"], "B is not stuck behind A, a2 waits for a1"
    gates["b1"].set()
    await settle()
    assert h.settled("b1") == DELIVERED
    assert "a2" not in h.handle.calls

    gates["a1"].set()
    await settle()
    assert h.handle.calls[-1] == "a2"
    gates["a2"].set()
    await settle()
    assert dict(h.handle.most_in_flight) == {"A": 1, "B": 1}
    assert [h.settled(n) for n in ("a1", "a2")] == [DELIVERED, DELIVERED]


# ---------------------------------------------------------------- outcomes


@pytest.mark.parametrize(
    ("retry_after_s", "waited_s"),
    [
        pytest.param(None, 1.0, id="backoff"),
        pytest.param(0.25, 1.0, id="backoff-longer-than-retry-after"),
        pytest.param(4.0, 4.0, id="retry-after-longer-than-backoff"),
    ],
)
async def test_a_retried_item_holds_the_lane_until_its_retry(make, retry_after_s, waited_s):
    h = await make()
    h.handle.answer("a1", retry("throttled", retry_after_s))
    await h.add("A", "a1", 1.0)
    await h.add("A", "a2", 2.0)
    await h.clock.advance(WINDOW)
    assert h.handle.calls == ["a1"]

    await h.clock.advance(waited_s - 0.25)
    assert h.handle.calls == ["a1"], "retried too early, or a2 overtook the retried item"
    assert h.journal == []

    await h.clock.advance(0.25)

    assert h.handle.times == [
        ("a1", 1_000.0 + WINDOW),
        ("a1", 1_000.0 + WINDOW + waited_s),
        ("a2", 1_000.0 + WINDOW + waited_s),
    ]
    assert h.journal == [(DELIVERED, "a1"), (DELIVERED, "a2")]
    assert h.metric("bridge_lane_retries_total") == 1.0


async def test_a_parked_item_is_parked_with_its_reason_and_the_lane_goes_on(make):
    h = await make()
    h.handle.answer("a1", park("template rejected by WhatsApp", "rejected"))
    await h.add("A", "a1", 1.0)
    await h.add("A", "a2", 2.0)

    await h.clock.advance(WINDOW)

    assert h.handle.calls == ["a1", "a2"], "a parked item is not retried"
    assert h.journal == [(PARKED, "a1"), (DELIVERED, "a2")]
    assert h.reasons == {"a1": "template rejected by WhatsApp"}
    assert h.given_up == []


async def test_an_item_stuck_past_max_stuck_is_given_up_then_parked_and_the_next_goes(make):
    h = await make(max_stuck_s=10.0)
    h.handle.answer("a1", *[retry("WhatsApp unavailable")] * 20)
    await h.add("A", "a1", 1.0)
    await h.add("A", "a2", 2.0)
    await h.clock.advance(WINDOW)
    started = h.clock.monotonic()

    for _ in range(19):
        await h.clock.advance(0.5)
    assert h.given_up == [], "given up before max_stuck_s"
    assert h.settled("a1") is None
    assert "a2" not in h.handle.calls
    await h.clock.advance(0.5)

    # Exponential backoff (1, 2, 4 s), the last wait cut to end at max_stuck_s.
    assert [t - started for name, t in h.handle.times if name == "a1"] == [0, 1, 3, 7, 10]
    [(name, reason)] = h.given_up
    assert name == "a1"
    assert "WhatsApp unavailable" in reason
    assert h.reasons["a1"] == reason
    assert h.journal == [(GIVEN_UP, "a1"), (PARKED, "a1"), (DELIVERED, "a2")]
    assert h.metric("bridge_lane_items_handled_total", settle="park") == 1.0


async def test_an_on_given_up_that_fails_still_parks_the_item_and_the_lane_goes_on(make):
    h = await make(max_stuck_s=1.0)
    h.give_up_error = ConnectionError("sessions table unreachable")
    h.handle.answer("a1", *[retry("WhatsApp unavailable")] * 5)
    await h.add("A", "a1", 1.0)
    await h.add("A", "a2", 2.0)
    await h.clock.advance(WINDOW)

    await h.clock.advance(1.0)

    assert [name for name, _ in h.given_up] == ["a1"]
    assert h.settled("a1") == PARKED
    assert h.settled("a2") == DELIVERED


async def test_a_flush_retries_a_waiting_item_at_once(make):
    h = await make()
    h.handle.answer("a1", retry("throttled", 30.0))
    await h.add("A", "a1", 1.0)
    await h.clock.advance(WINDOW)

    await without_time_passing(h.lanes.flush_all())

    assert h.handle.calls == ["a1", "a1"]
    assert h.clock.monotonic() == 1_000.0 + WINDOW
    assert h.settled("a1") == DELIVERED


# ---------------------------------------------------------------- shards handed over


async def test_drop_shard_releases_its_items_unacknowledged_and_stops_the_retry(make):
    h = await make()
    h.handle.answer("a1", retry("throttled"))  # then DONE, if it were ever retried
    await h.add("A", "a1", 1.0)
    await h.add("A", "a2", 2.0)
    await h.clock.advance(WINDOW)
    assert h.handle.calls == ["a1"]
    await h.add("B", "b1", 1.0, shard="s2")

    await h.lanes.drop_shard("s1")
    await settle()

    assert [row["customer_key"] for row in h.lanes.snapshot()] == ["B"]
    assert h.metric("bridge_lane_items") == 1.0
    await h.clock.advance(60.0)
    assert h.handle.calls == ["a1", "b1"], "a1 not retried, a2 never handled"
    assert h.journal == [(DELIVERED, "b1")], "the next owner acknowledges a1 and a2"


async def test_a_drop_during_handling_stops_the_retry_at_once(make):
    h = await make()
    gate = h.handle.hold("a1")
    h.handle.answer("a1", retry("throttled", 30.0))
    await h.add("A", "a1", 1.0)
    await h.clock.advance(WINDOW)

    await h.lanes.drop_shard("s1")
    gate.set()
    await settle()

    assert h.lanes.snapshot() == []
    assert h.journal == []


# ---------------------------------------------------------------- limits and failures


async def test_add_waits_while_the_lanes_are_full_and_resumes_when_room_frees(make):
    h = await make(max_items=2)
    gate = h.handle.hold("a1")
    await h.add("A", "a1", 1.0)
    await h.add("B", "b1", 1.0)
    await h.clock.advance(WINDOW)  # a1 is being handled (still held), b1 is done
    await h.add("C", "c1", 1.0)  # b1's place

    adding = asyncio.create_task(h.add("D", "d1", 1.0))
    await settle()
    assert not adding.done(), "add must wait: a1 and c1 fill the lanes"

    gate.set()
    await settle()
    assert adding.done()
    await adding
    await h.clock.advance(WINDOW)
    assert {h.settled(n) for n in ("a1", "b1", "c1", "d1")} == {DELIVERED}


async def test_a_crash_in_handle_ends_only_its_lane_and_leaves_its_items_unacknowledged(make, logs):
    h = await make()
    h.handle.answer("a1", RuntimeError("a bug"))
    await h.add("A", "a1", 1.0)
    await h.add("A", "a2", 2.0)
    await h.add("B", "b1", 1.0)

    await h.clock.advance(WINDOW)

    assert not h.task.done(), "the lanes' TaskGroup must survive a lane's crash"
    assert "a2" not in h.handle.calls
    assert h.journal == [(DELIVERED, "b1")]
    assert [e["customer"] for e in logs if e["event"] == "lane_failed"] == ["A"]
    assert h.lanes.snapshot() == []
    assert h.metric("bridge_lane_items") == 0.0
    # The lanes still work, for everyone.
    await h.add("C", "c1", 1.0)
    await h.clock.advance(WINDOW)
    assert h.settled("c1") == DELIVERED


# ---------------------------------------------------------------- inspection


async def test_snapshot_shows_the_customers_with_waiting_items(make):
    h = await make()
    gate = h.handle.hold("a1")
    await h.add("A", "a1", 1.0)
    await h.clock.advance(WINDOW)
    assert h.lanes.snapshot() == [{"customer_key": "A", "items": 1, "oldest_s": 0.5}], (
        "an item being handled is still waiting"
    )
    await h.add("A", "a2", 2.0)
    await h.clock.advance(0.25)
    await h.add("B", "b1", 1.0)

    assert h.lanes.snapshot() == [
        {"customer_key": "A", "items": 2, "oldest_s": 0.75},
        {"customer_key": "B", "items": 1, "oldest_s": 0.0},
    ]
    gate.set()
    await h.clock.advance(WINDOW)
    assert h.lanes.snapshot() == []


async def test_metrics_count_items_by_how_they_ended(make):
    h = await make()
    h.handle.answer("a2", retry("throttled"))
    h.handle.answer("b1", park("not sendable"))
    for name, order in (("a1", 1.0), ("a2", 2.0), ("a3", 3.0)):
        await h.add("A", name, order)
    await h.add("B", "b1", 1.0)
    assert h.metric("bridge_lane_items") == 4.0

    await h.clock.advance(WINDOW)
    await h.clock.advance(1.0)

    assert h.metric("bridge_lane_items_handled_total", settle="done") == 3.0
    assert h.metric("bridge_lane_items_handled_total", settle="park") == 1.0
    assert h.metric("bridge_lane_items_handled_total", settle="retry") == 0.0
    assert h.metric("bridge_lane_retries_total") == 1.0
    assert h.metric("bridge_lane_wait_seconds_count") == 4.0
    assert h.metric("bridge_lane_items") == 0.0


# ---------------------------------------------------------------- life cycle


async def test_run_ends_after_stop_once_flush_all_is_done_and_then_refuses_items(make):
    h = await make()
    await h.add("A", "a1", 1.0)

    h.stop.set()
    await settle()
    assert not h.task.done(), "run waits for the shutdown flush"
    await without_time_passing(h.lanes.flush_all())
    await settle()

    assert h.task.done()
    await h.task
    assert h.settled("a1") == DELIVERED
    with pytest.raises(LanesNotRunningError):
        await h.add("A", "a2", 2.0)


async def test_add_before_run_is_refused():
    lanes = AgentLanes[Item](handle=Script(FakeClock()), registry=CollectorRegistry())
    record = Record("s1", "shardId-s1", "1", {})

    with pytest.raises(LanesNotRunningError):
        await lanes.add(record, FakeAck("a1", [], {}), Item("A", "a1", 1.0))


# ---------------------------------------------------------------- the order gate


@dataclass
class FakeGate:
    """Says an item is missing before `waiting_for` until an item of that name is pending
    or settled, then CLEAR; an item without a rule gets `otherwise`."""

    waiting_for: dict[str, str] = field(default_factory=dict)
    otherwise: GateAnswer = GateAnswer.UNCHECKED
    fail: bool = False
    asked: list[str] = field(default_factory=list)
    settled_names: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)

    async def check(self, item: Item, pending: Any) -> GateAnswer:
        self.asked.append(item.name)
        if self.fail:
            raise ConnectionError("transcript unreachable")
        wanted = self.waiting_for.get(item.name)
        if wanted is None:
            return self.otherwise
        known = {p.name for p in pending} | set(self.settled_names)
        return GateAnswer.CLEAR if wanted in known else GateAnswer.MISSING

    def settled(self, item: Item) -> None:
        self.settled_names.append(item.name)

    def forget(self, customer_key: str) -> None:
        self.forgotten.append(customer_key)


async def test_a_head_waits_for_the_earlier_item_its_gate_says_is_on_its_way(make):
    gate = FakeGate(waiting_for={"third": "second"})
    h = await make(gate=gate)
    await h.add("A", "third", 3.0)
    await h.clock.advance(WINDOW * 4)
    assert h.handle.calls == [], "held past the window: the gate knows of an earlier item"

    await h.add("A", "second", 2.0)  # seconds late, as a slow path brings it
    await h.clock.advance(WINDOW)  # "second" is unchecked: it waits the window

    assert h.handle.calls == ["second", "third"]
    assert h.handle.times[1][1] == h.handle.times[0][1], "then the cleared head goes at once"
    assert gate.settled_names == ["second", "third"]
    assert h.registry.get_sample_value("bridge_lane_gap_waits_total") >= 1


async def test_a_gap_that_never_fills_holds_the_head_at_most_max_gap_wait(make):
    gate = FakeGate(waiting_for={"third": "never"})
    h = await make(gate=gate, max_gap_wait_s=5.0)
    await h.add("A", "third", 3.0)
    await settle()  # the gate is asked from its arrival on
    for _ in range(9):  # asked again every gap_poll_s
        await h.clock.advance(0.5)
    await h.clock.advance(0.4)
    assert h.handle.calls == []
    await h.clock.advance(0.2)

    assert h.handle.calls == ["third"]
    assert h.registry.get_sample_value("bridge_lane_gap_timeouts_total") == 1


async def test_a_message_the_gate_checked_goes_at_once_without_the_reorder_window(make):
    gate = FakeGate(otherwise=GateAnswer.CLEAR)
    h = await make(gate=gate, reorder_window_s=30.0)
    await h.add("A", "a1", 1.0)
    await h.add("A", "a2", 2.0)
    await settle()

    assert h.handle.calls == ["a1", "a2"]
    assert h.handle.times == [("a1", 1_000.0), ("a2", 1_000.0)]
    assert gate.asked == ["a1", "a2"]


async def test_what_the_gate_could_not_check_still_waits_the_reorder_window(make):
    gate = FakeGate()
    h = await make(gate=gate)
    await h.add("A", "typing", 1.0)
    await h.clock.advance(WINDOW / 2)
    assert h.handle.calls == []
    assert gate.asked == ["typing"]
    await h.clock.advance(WINDOW / 2)
    assert h.handle.calls == ["typing"]


async def test_an_earlier_item_arriving_during_the_window_is_asked_about_first(make):
    gate = FakeGate()
    h = await make(gate=gate)
    await h.add("A", "a2", 2.0)
    await h.clock.advance(WINDOW / 2)
    await h.add("A", "a1", 1.0)
    await h.clock.advance(WINDOW)
    assert h.handle.calls == ["a1", "a2"]
    assert gate.asked == ["a2", "a1"]


async def test_a_gate_that_fails_never_holds_the_lane(make):
    h = await make(gate=FakeGate(fail=True))
    await h.add("A", "a1", 1.0)
    await h.clock.advance(WINDOW)
    assert h.handle.calls == ["a1"]


async def test_a_flush_does_not_ask_the_gate_and_a_drop_makes_it_forget(make):
    gate = FakeGate(waiting_for={"a1": "never"})
    h = await make(gate=gate, reorder_window_s=30.0)
    await h.add("A", "a1", 1.0)
    await without_time_passing(h.lanes.flush_all())
    assert h.handle.calls == ["a1"]
    assert gate.asked == ["a1"], "asked once on arrival; the flush did not ask again"

    h2 = await make(gate=gate)
    await h2.add("B", "b1", 1.0)
    await h2.lanes.drop_shard("s1")
    assert "B" in gate.forgotten


# ---------------------------------------------------------------- the lane's scope

_SCOPE: contextvars.ContextVar[object | None] = contextvars.ContextVar("scope", default=None)


async def test_a_lanes_gate_checks_and_handling_run_inside_one_scope() -> None:
    # app.py passes the session store's shared reads: an agent item's gate check and its
    # handling then read the customer's session once, not two or three times.
    entered: list[object] = []

    @contextlib.contextmanager
    def scope() -> Iterator[None]:
        marker = object()
        entered.append(marker)
        token = _SCOPE.set(marker)
        try:
            yield
        finally:
            _SCOPE.reset(token)

    seen: list[tuple[str, object | None]] = []

    class Gate(FakeGate):
        async def check(self, item: Item, pending: Any) -> GateAnswer:  # noqa: ARG002
            seen.append(("gate " + item.name, _SCOPE.get()))
            return GateAnswer.CLEAR

    async def handle(item: Item) -> Outcome:
        seen.append(("handle " + item.name, _SCOPE.get()))
        return DONE

    stop = asyncio.Event()
    lanes = AgentLanes[Item](handle=handle, registry=CollectorRegistry(), gate=Gate(), scope=scope)
    running = asyncio.create_task(lanes.run(stop))
    await lanes.running.wait()
    for order, name in enumerate(("a1", "a2")):
        record = Record(
            shard_key="s1",
            shard_id="shardId-s1",
            sequence_number=f"{order:021d}",
            new_image={"customer": {"S": "A"}, "message_id": {"S": f"agent#{name}"}},
        )
        await lanes.add(record, FakeAck(name, [], {}), Item("A", name, float(order)))
    await eventually(lambda: len(seen) == 4, timeout_s=2.0, interval_s=0.001)

    assert [what for what, _ in seen] == ["gate a1", "handle a1", "gate a2", "handle a2"]
    assert len(entered) == 1
    assert {marker for _, marker in seen} == {entered[0]}
    await lanes.flush_all()
    stop.set()
    await running
