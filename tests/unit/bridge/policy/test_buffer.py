"""The per-customer buffer, driven by a fake clock so quiet windows cost no real time."""

import asyncio
import contextlib
import gc
import random
import tracemalloc
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from service.bridge.events.transport import StreamItem
from service.bridge.policy.buffer import (
    BufferConfig,
    BufferNotRunningError,
    CustomerBuffer,
)
from service.clock import SystemClock
from service.errors import (
    DependencyUnavailableError,
    InvalidRequestError,
    ThrottledError,
)
from tests.support.clock import FakeClock, settle
from tests.support.waiting import eventually

# ---------------------------------------------------------------- test doubles


class AckOutcome(StrEnum):
    DELIVERED = "delivered"
    PARKED = "parked"


@dataclass(frozen=True)
class Record:
    """A stream record as the bridge sees it (`StreamItem`)."""

    shard_key: str
    shard_id: str
    sequence_number: str
    new_image: dict[str, Any]


@dataclass
class FakeAck:
    """The bridge's `Acknowledgement`: parking is recorded, and can be made to fail."""

    sequence_number: str
    outcomes: dict[str, AckOutcome]
    parked: list[tuple[str, str]]
    refuse: set[str]

    def delivered(self) -> None:
        self.outcomes.setdefault(self.sequence_number, AckOutcome.DELIVERED)

    async def park(self, reason: str) -> None:
        if self.sequence_number in self.refuse:
            raise ConnectionError("dead-letter queue unreachable")
        if self.sequence_number not in self.outcomes:
            self.parked.append((self.sequence_number, reason))
            self.outcomes[self.sequence_number] = AckOutcome.PARKED


@dataclass(frozen=True)
class Msg:
    customer_key: str
    message_id: str
    timestamp: int

    @property
    def order_key(self) -> tuple[int, int]:
        return (self.timestamp, 0)


def decode(record: StreamItem) -> Msg:
    image = record.new_image
    if "message" not in image:
        raise ValueError("raw item without a usable message")
    return Msg(
        customer_key=image["customer"]["S"],
        message_id=image["message"]["S"],
        timestamp=int(image["ts"]["N"]),
    )


@dataclass
class FakeDeliver:
    delivered: list[list[str]] = field(default_factory=list)
    attempts: list[list[str]] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)
    gate: asyncio.Event | None = None
    in_flight: dict[str, int] = field(default_factory=dict)
    max_in_flight: int = 0

    async def __call__(self, burst: Sequence[Msg]) -> None:
        ids = [m.message_id for m in burst]
        customer = burst[0].customer_key
        self.attempts.append(ids)
        self.in_flight[customer] = self.in_flight.get(customer, 0) + 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight[customer])
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.failures:
                raise self.failures.pop(0)
            self.delivered.append(ids)
        finally:
            self.in_flight[customer] -= 1


@dataclass
class FakeDeadLetters:
    parked: list[tuple[str, str]] = field(default_factory=list)  # (sequence number, reason)
    refuse: set[str] = field(default_factory=set)  # sequence numbers whose park fails


@dataclass
class Harness:
    buffer: CustomerBuffer[Msg]
    clock: FakeClock
    deliver: FakeDeliver
    dead: FakeDeadLetters
    registry: CollectorRegistry
    stop: asyncio.Event
    task: asyncio.Task[None]
    outcomes: dict[str, AckOutcome] = field(default_factory=dict)
    # message id -> sequence number, so tests speak in message ids
    seq_of: dict[str, str] = field(default_factory=dict)
    _seq: int = 0

    def record(self, customer: str, message_id: str, *, ts: int, shard: str) -> Record:
        self._seq += 1
        sequence = f"{self._seq:021d}"
        self.seq_of[message_id] = sequence
        image: dict[str, Any] = {"customer": {"S": customer}, "ts": {"N": str(ts)}}
        if message_id != "poison":
            image["message"] = {"S": message_id}
        return Record(
            shard_key=shard, shard_id=f"shardId-{shard}", sequence_number=sequence, new_image=image
        )

    async def submit(
        self, customer: str, message_id: str, *, ts: int = 1_772_360_130, shard: str = "s1"
    ) -> None:
        record = self.record(customer, message_id, ts=ts, shard=shard)
        await self.buffer.submit(record, self.ack(record))

    def ack(self, record: Record) -> FakeAck:
        return FakeAck(record.sequence_number, self.outcomes, self.dead.parked, self.dead.refuse)

    def outcome(self, message_id: str) -> AckOutcome | None:
        return self.outcomes.get(self.seq_of[message_id])

    def metric(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, labels)
        assert value is not None, name
        return value


Make = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    harnesses: list[Harness] = []

    async def build(
        deliver: FakeDeliver | None = None,
        dead: FakeDeadLetters | None = None,
        decoder: Callable[[StreamItem], Msg] = decode,
        **config: Any,
    ) -> Harness:
        clock = FakeClock()
        registry = CollectorRegistry()
        deliver = deliver or FakeDeliver()
        dead = dead or FakeDeadLetters()
        buffer = CustomerBuffer[Msg](
            decode=decoder,
            deliver=deliver,
            registry=registry,
            config=BufferConfig(**config),
            clock=clock,
            rng=random.Random(7),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(buffer.run(stop))
        await settle()
        harness = Harness(buffer, clock, deliver, dead, registry, stop, task)
        harnesses.append(harness)
        return harness

    yield build
    for harness in harnesses:
        harness.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await harness.task


# ---------------------------------------------------------------- bursts


async def test_texts_300_ms_apart_make_one_burst_in_order(make: Make) -> None:
    h = await make()
    for index in range(4):
        await h.submit("cust-a", f"m{index}", ts=1_000 + index)
        await h.clock.advance(0.3)

    await h.clock.advance(4.6)  # 4.9 s after the last message
    assert h.deliver.delivered == []
    assert h.outcome("m0") is None

    await h.clock.advance(0.1)
    assert h.deliver.delivered == [["m0", "m1", "m2", "m3"]]
    assert {h.outcome(f"m{i}") for i in range(4)} == {AckOutcome.DELIVERED}
    assert h.metric("bridge_flushes_total", reason="quiet") == 1


async def test_a_pause_longer_than_quiet_separates_two_bursts(make: Make) -> None:
    h = await make()
    await h.submit("cust-a", "m1", ts=1)
    await h.submit("cust-a", "m2", ts=2)
    await h.clock.advance(5.0)
    await h.submit("cust-a", "m3", ts=3)
    await h.clock.advance(5.0)

    assert h.deliver.delivered == [["m1", "m2"], ["m3"]]


async def test_max_wait_caps_a_customer_who_never_pauses(make: Make) -> None:
    h = await make(quiet_s=5.0, max_wait_s=20.0)
    for index in range(15):  # a message every 2 s for 30 s: never quiet for 5 s
        await h.submit("cust-a", f"m{index:02d}", ts=index)
        await h.clock.advance(2.0)

    # The first burst left at 20 s after its first message, with what had arrived by then.
    assert h.deliver.delivered[0] == [f"m{i:02d}" for i in range(10)]
    assert h.metric("bridge_flushes_total", reason="max_wait") == 1
    assert h.outcome("m10") is None
    await h.clock.advance(5.0)
    assert h.deliver.delivered[1] == [f"m{i:02d}" for i in range(10, 15)]


async def test_interleaved_customers_never_mix(make: Make) -> None:
    h = await make()
    for index in range(3):
        await h.submit("cust-a", f"a{index}", ts=index)
        await h.submit("cust-b", f"b{index}", ts=index)
        await h.clock.advance(1.0)
    await h.clock.advance(5.0)

    assert sorted(h.deliver.delivered) == [["a0", "a1", "a2"], ["b0", "b1", "b2"]]


async def test_burst_is_ordered_by_timestamp_then_arrival(make: Make) -> None:
    h = await make()
    await h.submit("cust-a", "late", ts=30)
    await h.submit("cust-a", "first", ts=10)
    await h.submit("cust-a", "middle", ts=20)
    await h.submit("cust-a", "first-too", ts=10)
    await h.clock.advance(5.0)

    assert h.deliver.delivered == [["first", "first-too", "middle", "late"]]


async def test_a_full_burst_leaves_at_once_and_the_rest_follows(make: Make) -> None:
    h = await make(max_burst_messages=3)
    for index in range(7):
        await h.submit("cust-a", f"m{index}", ts=index)
    await settle()

    # No time has passed: only the size limit can have sent these.
    assert h.deliver.delivered == [["m0", "m1", "m2"], ["m3", "m4", "m5"]]
    assert h.metric("bridge_flushes_total", reason="size") == 2
    await h.clock.advance(5.0)
    assert h.deliver.delivered[2:] == [["m6"]]


# ---------------------------------------------------------------- one delivery in flight


async def test_one_delivery_in_flight_per_customer(make: Make) -> None:
    gate = asyncio.Event()
    h = await make(deliver=FakeDeliver(gate=gate))
    await h.submit("cust-a", "m1", ts=1)
    await h.clock.advance(5.0)
    assert h.deliver.attempts == [["m1"]]

    # While the first burst is with Connect, the next one fills and comes due...
    await h.submit("cust-a", "m2", ts=2)
    await h.submit("cust-a", "m3", ts=3)
    await h.clock.advance(30.0)
    assert h.deliver.attempts == [["m1"]]
    assert h.outcome("m2") is None

    # ...and is handed over only once the first one finished.
    gate.set()
    await eventually(lambda: len(h.deliver.delivered) == 2, timeout_s=2.0, interval_s=0.001)
    assert h.deliver.delivered == [["m1"], ["m2", "m3"]]
    assert h.deliver.max_in_flight == 1


async def test_other_customers_flow_while_one_delivery_hangs(make: Make) -> None:
    gate = asyncio.Event()
    deliver = FakeDeliver()
    blocked = asyncio.Event()

    async def slow_for_a(burst: Sequence[Msg]) -> None:
        if burst[0].customer_key == "cust-a":
            blocked.set()
            await gate.wait()
        await deliver(burst)

    h = await make(deliver=slow_for_a)
    await h.submit("cust-a", "a1", ts=1)
    await h.submit("cust-b", "b1", ts=1)
    await h.clock.advance(5.0)

    assert blocked.is_set()
    assert deliver.delivered == [["b1"]]
    gate.set()
    await eventually(lambda: len(deliver.delivered) == 2, timeout_s=2.0, interval_s=0.001)


# ---------------------------------------------------------------- failures


async def test_retryable_failures_retry_the_same_burst_then_park_it(make: Make) -> None:
    failures: list[Exception] = [DependencyUnavailableError("connect 503")] * 3
    h = await make(deliver=FakeDeliver(failures=failures), max_attempts=3)
    await h.submit("cust-a", "m1", ts=1)
    await h.submit("cust-a", "m2", ts=2)
    await h.clock.advance(5.0)
    await h.submit("cust-a", "m3", ts=3)  # arrives during the backoff: not part of the burst

    for _ in range(3):
        await h.clock.advance(60.0)

    assert h.deliver.attempts[:3] == [["m1", "m2"]] * 3
    assert [sequence for sequence, _ in h.dead.parked] == [h.seq_of["m1"], h.seq_of["m2"]]
    assert all("DependencyUnavailableError" in reason for _, reason in h.dead.parked)
    assert h.outcome("m1") is AckOutcome.PARKED
    assert h.outcome("m2") is AckOutcome.PARKED
    # The next burst is unaffected.
    assert h.deliver.delivered == [["m3"]]
    assert h.outcome("m3") is AckOutcome.DELIVERED
    assert h.metric("bridge_delivery_retries_total") == 2
    assert h.metric("bridge_records_parked_total") == 2


async def test_a_retry_that_succeeds_acks_as_delivered(make: Make) -> None:
    h = await make(deliver=FakeDeliver(failures=[DependencyUnavailableError("timeout")]))
    await h.submit("cust-a", "m1", ts=1)
    await h.clock.advance(5.0)
    assert h.outcome("m1") is None
    snapshot = h.buffer.snapshot()
    assert snapshot[0]["attempts"] == 1
    assert snapshot[0]["in_flight"] == 1

    await h.clock.advance(1.0)

    assert h.deliver.delivered == [["m1"]]
    assert h.outcome("m1") is AckOutcome.DELIVERED
    assert h.dead.parked == []


async def test_backoff_grows_exponentially_within_its_jitter(make: Make) -> None:
    failures: list[Exception] = [DependencyUnavailableError("down")] * 3
    h = await make(deliver=FakeDeliver(failures=failures), retry_base_s=1.0, retry_max_s=60.0)
    await h.submit("cust-a", "m1", ts=1)
    await h.clock.advance(5.0)
    assert len(h.deliver.attempts) == 1

    # Each wait lies in [ceiling / 2, ceiling] for ceilings 1, 2, 4.
    for attempts, ceiling in ((2, 1.0), (3, 2.0), (4, 4.0)):
        await h.clock.advance(ceiling / 2 - 0.01)
        assert len(h.deliver.attempts) == attempts - 1
        await h.clock.advance(ceiling / 2 + 0.01)
        assert len(h.deliver.attempts) == attempts
    assert h.outcome("m1") is AckOutcome.DELIVERED


async def test_a_throttle_hint_is_honoured(make: Make) -> None:
    throttled = ThrottledError("slow down", retry_after_s=30.0)
    h = await make(deliver=FakeDeliver(failures=[throttled]))
    await h.submit("cust-a", "m1", ts=1)
    await h.clock.advance(5.0)
    await h.clock.advance(29.0)
    assert len(h.deliver.attempts) == 1
    await h.clock.advance(1.0)
    assert h.deliver.delivered == [["m1"]]


async def test_retries_stop_at_max_retry_time(make: Make) -> None:
    failures: list[Exception] = [DependencyUnavailableError("down")] * 100
    h = await make(
        deliver=FakeDeliver(failures=failures),
        max_attempts=100,
        max_retry_s=30.0,
        retry_base_s=8.0,
        retry_max_s=8.0,
    )
    await h.submit("cust-a", "m1", ts=1)
    await h.clock.advance(5.0)
    for _ in range(10):
        await h.clock.advance(8.0)

    # 30 s of retries at 4-8 s each: between 5 and 9 attempts, then parked.
    assert 5 <= len(h.deliver.attempts) <= 9
    assert h.outcome("m1") is AckOutcome.PARKED


async def test_a_permanent_error_parks_at_once(make: Make) -> None:
    h = await make(deliver=FakeDeliver(failures=[InvalidRequestError("bad request")]))
    await h.submit("cust-a", "m1", ts=1)
    await h.submit("cust-a", "m2", ts=2)
    await h.clock.advance(5.0)

    assert len(h.deliver.attempts) == 1
    assert [reason for _, reason in h.dead.parked] == [
        "permanent delivery error: InvalidRequestError"
    ] * 2
    assert h.outcome("m1") is AckOutcome.PARKED
    assert h.outcome("m2") is AckOutcome.PARKED
    assert h.metric("bridge_delivery_retries_total") == 0


async def test_an_unknown_exception_is_retried_and_logged_with_its_traceback(make: Make) -> None:
    h = await make(deliver=FakeDeliver(failures=[KeyError("bug")]))
    with capture_logs() as logs:
        await h.submit("cust-a", "m1", ts=1)
        await h.clock.advance(5.0)
        await h.clock.advance(1.0)

    assert h.deliver.delivered == [["m1"]]
    retry = next(entry for entry in logs if entry["event"] == "burst_retry")
    assert isinstance(retry["exc_info"], KeyError)
    assert retry["customer"] == "cust-a"


async def test_a_record_whose_parking_fails_is_not_acknowledged(make: Make) -> None:
    dead = FakeDeadLetters()
    h = await make(deliver=FakeDeliver(failures=[InvalidRequestError("bad")]), dead=dead)
    await h.submit("cust-a", "m1", ts=1)
    await h.submit("cust-a", "m2", ts=2)
    dead.refuse.add(h.seq_of["m1"])
    with capture_logs() as logs:
        await h.clock.advance(5.0)

    assert h.outcome("m1") is None
    assert h.outcome("m2") is AckOutcome.PARKED
    assert any(entry["event"] == "record_park_failed" for entry in logs)
    assert h.metric("bridge_records_parked_total") == 1
    # The buffer let go of it: the shard's next reader retries it from the checkpoint.
    assert h.buffer.snapshot() == []
    assert h.metric("bridge_buffer_messages") == 0


async def test_an_undecodable_record_is_parked_at_once(make: Make) -> None:
    h = await make()
    await h.submit("cust-a", "poison", ts=1)

    assert h.outcome("poison") is AckOutcome.PARKED
    assert h.dead.parked == [(h.seq_of["poison"], "undecodable: ValueError")]
    assert h.buffer.snapshot() == []
    await h.clock.advance(5.0)
    assert h.deliver.attempts == []


async def test_a_crash_inside_the_buffer_spares_other_customers(make: Make) -> None:
    h = await make()
    record = h.record("cust-a", "a1", ts=1, shard="s1")

    class Exploding(FakeAck):
        def delivered(self) -> None:
            raise RuntimeError("consumer bug")

    ack = Exploding(record.sequence_number, h.outcomes, h.dead.parked, h.dead.refuse)
    await h.buffer.submit(record, ack)
    await h.submit("cust-b", "b1", ts=1)
    with capture_logs() as logs:
        await h.clock.advance(5.0)

    assert any(entry["event"] == "buffer_customer_failed" for entry in logs)
    assert h.outcome("b1") is AckOutcome.DELIVERED
    assert not h.task.done()
    await h.submit("cust-a", "a2", ts=2)
    await h.clock.advance(5.0)
    assert h.outcome("a2") is AckOutcome.DELIVERED


# ---------------------------------------------------------------- backpressure


async def test_submit_blocks_while_the_buffer_holds_max_messages(make: Make) -> None:
    h = await make(max_messages=2)
    await h.submit("cust-a", "m1", ts=1)
    await h.submit("cust-b", "m2", ts=1)
    third = asyncio.create_task(h.submit("cust-c", "m3", ts=1))
    await settle()
    assert not third.done()

    await h.clock.advance(5.0)  # the first two are delivered, freeing space

    await eventually(third.done, timeout_s=2.0, interval_s=0.001)
    await third
    await h.clock.advance(5.0)
    assert h.outcome("m3") is AckOutcome.DELIVERED


async def test_submit_blocks_a_new_customer_beyond_max_customers(make: Make) -> None:
    h = await make(max_customers=1)
    await h.submit("cust-a", "a1", ts=1)
    newcomer = asyncio.create_task(h.submit("cust-b", "b1", ts=1))
    await settle()
    assert not newcomer.done()

    await h.submit("cust-a", "a2", ts=2)  # a known customer still gets in
    await h.clock.advance(5.0)

    await eventually(newcomer.done, timeout_s=2.0, interval_s=0.001)
    await newcomer
    assert h.deliver.delivered == [["a1", "a2"]]


# ---------------------------------------------------------------- what a waiting customer costs


async def test_waiting_customers_have_no_task_of_their_own(make: Make) -> None:
    h = await make()
    await h.submit("cust-0", "m0", ts=1)
    await settle()
    tasks = len(asyncio.all_tasks())  # the buffer, the timer heap's one task, the test

    for index in range(1, 200):
        await h.submit(f"cust-{index}", f"m{index}", ts=1)
    await settle()

    assert len(asyncio.all_tasks()) == tasks
    await h.clock.advance(5.0)
    assert sorted(ids[0] for ids in h.deliver.delivered) == sorted(f"m{i}" for i in range(200))


async def test_a_waiting_message_is_kept_as_its_record_not_its_decoded_model(
    make: Make,
) -> None:
    decoded: list[weakref.ref[Msg]] = []

    def decoder(record: StreamItem) -> Msg:
        message = decode(record)
        decoded.append(weakref.ref(message))
        return message

    h = await make(decoder=decoder)
    await h.submit("cust-a", "m1", ts=1)
    gc.collect()
    assert [ref() for ref in decoded] == [None]

    await h.clock.advance(5.0)  # decoded again, from the record, as the burst leaves
    assert h.deliver.delivered == [["m1"]]
    assert len(decoded) == 2


async def test_a_waiting_customer_costs_the_buffer_under_a_kilobyte(make: Make) -> None:
    # Issue 14: 10,000 people waiting for an agent must not cost the task its memory. The
    # records are made first: they are the stream reader's, held until acknowledged.
    h = await make(max_customers=5_000)
    customers = 2_000
    records = [h.record(f"cust-{i:05d}", f"m{i}", ts=1, shard="s1") for i in range(customers)]
    acks = [h.ack(record) for record in records]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for record, ack in zip(records, acks, strict=True):
            await h.buffer.submit(record, ack)
        await settle()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    # Measured: ~580 bytes each (entry, customer, heap entry, key); a task and two
    # events per customer and the decoded model kept made it ~6,500.
    print(f"{grown / customers:.0f} bytes a waiting customer")
    assert grown / customers < 1_024
    assert h.metric("bridge_buffer_customers") == customers


# ---------------------------------------------------------------- flushes and drops


async def test_flush_shard_delivers_that_shards_customers_now(make: Make) -> None:
    h = await make()
    await h.submit("cust-a", "a1", ts=1, shard="s1")
    await h.submit("cust-a", "a2", ts=2, shard="s2")
    await h.submit("cust-b", "b1", ts=1, shard="s2")

    await h.buffer.flush_shard("s1")

    # The whole customer went, not only that shard's record; the other customer waits.
    assert h.deliver.delivered == [["a1", "a2"]]
    assert h.outcome("a1") is AckOutcome.DELIVERED
    assert h.outcome("b1") is None
    assert h.metric("bridge_flushes_total", reason="forced") == 1


async def test_flush_shard_returns_only_when_its_records_are_acked(make: Make) -> None:
    gate = asyncio.Event()
    h = await make(deliver=FakeDeliver(gate=gate))
    await h.submit("cust-a", "a1", ts=1)
    flush = asyncio.create_task(h.buffer.flush_shard("s1"))
    await settle()
    assert h.deliver.attempts == [["a1"]]
    assert not flush.done()

    gate.set()
    await eventually(flush.done, timeout_s=2.0, interval_s=0.001)
    await flush
    assert h.outcome("a1") is AckOutcome.DELIVERED


async def test_flush_shard_of_an_unknown_shard_returns_at_once(make: Make) -> None:
    h = await make()
    await h.submit("cust-a", "a1", ts=1, shard="s1")
    async with asyncio.timeout(1):
        await h.buffer.flush_shard("s9")
    assert h.deliver.attempts == []


async def test_drop_shard_forgets_its_pending_records_without_acks(make: Make) -> None:
    h = await make()
    await h.submit("cust-a", "a1", ts=1, shard="s1")
    await h.submit("cust-a", "a2", ts=2, shard="s2")
    await h.submit("cust-b", "b1", ts=1, shard="s1")

    await h.buffer.drop_shard("s1")
    await h.clock.advance(5.0)

    assert h.deliver.delivered == [["a2"]]
    assert h.outcome("a1") is None
    assert h.outcome("b1") is None
    assert h.metric("bridge_buffer_customers") == 0
    assert h.metric("bridge_buffer_messages") == 0


async def test_drop_shard_lets_a_delivery_in_flight_finish(make: Make) -> None:
    gate = asyncio.Event()
    h = await make(deliver=FakeDeliver(gate=gate))
    await h.submit("cust-a", "a1", ts=1)
    await h.clock.advance(5.0)

    await h.buffer.drop_shard("s1")
    gate.set()

    await eventually(
        lambda: h.outcome("a1") is AckOutcome.DELIVERED, timeout_s=2.0, interval_s=0.001
    )
    assert h.deliver.delivered == [["a1"]]


async def test_drop_shard_stops_retrying_a_burst_of_that_shard(make: Make) -> None:
    failures: list[Exception] = [DependencyUnavailableError("down")] * 5
    h = await make(deliver=FakeDeliver(failures=failures))
    await h.submit("cust-a", "a1", ts=1)
    await h.clock.advance(5.0)
    assert len(h.deliver.attempts) == 1

    await h.buffer.drop_shard("s1")
    await settle()

    # Given up at once, not at the end of the backoff.
    assert h.buffer.snapshot() == []
    await h.clock.advance(120.0)
    assert len(h.deliver.attempts) == 1
    assert h.dead.parked == []
    assert h.outcome("a1") is None


async def test_flush_all_delivers_everything_while_submits_still_work(make: Make) -> None:
    gate = asyncio.Event()
    h = await make(deliver=FakeDeliver(gate=gate))
    await h.submit("cust-a", "a1", ts=1, shard="s1")
    await h.submit("cust-b", "b1", ts=1, shard="s2")

    flush = asyncio.create_task(h.buffer.flush_all())
    await settle()
    assert sorted(h.deliver.attempts) == [["a1"], ["b1"]]
    await h.submit("cust-c", "c1", ts=1)  # not refused, not blocked
    assert not flush.done()

    gate.set()
    await eventually(flush.done, timeout_s=2.0, interval_s=0.001)
    await flush
    assert h.outcome("a1") is AckOutcome.DELIVERED
    assert h.outcome("b1") is AckOutcome.DELIVERED
    assert h.metric("bridge_flushes_total", reason="shutdown") == 2
    await h.clock.advance(5.0)
    assert h.outcome("c1") is AckOutcome.DELIVERED


async def test_a_forced_flush_cuts_a_retry_backoff_short(make: Make) -> None:
    h = await make(deliver=FakeDeliver(failures=[DependencyUnavailableError("down")]))
    await h.submit("cust-a", "a1", ts=1)
    await h.clock.advance(5.0)
    assert len(h.deliver.attempts) == 1

    async with asyncio.timeout(2):  # the fake clock stands still: only the flush can retry
        await h.buffer.flush_all()

    assert h.deliver.delivered == [["a1"]]


async def test_flush_customer_for_the_admin_api(make: Make) -> None:
    h = await make()
    await h.submit("cust-a", "a1", ts=1)
    await h.submit("cust-b", "b1", ts=1)

    assert await h.buffer.flush_customer("cust-a") is True
    assert await h.buffer.flush_customer("cust-z") is False

    assert h.deliver.delivered == [["a1"]]
    assert h.outcome("b1") is None


# ---------------------------------------------------------------- lifecycle


async def test_submit_is_refused_before_run_and_after_it_ended(make: Make) -> None:
    idle = CustomerBuffer[Msg](
        decode=decode,
        deliver=FakeDeliver(),
        registry=CollectorRegistry(),
        clock=FakeClock(),
    )
    h = await make()
    record = h.record("cust-a", "a1", ts=1, shard="s1")
    with pytest.raises(BufferNotRunningError):
        await idle.submit(record, h.ack(record))

    h.stop.set()
    await h.buffer.flush_all()
    await eventually(h.task.done, timeout_s=2.0, interval_s=0.001)
    await h.task
    with pytest.raises(BufferNotRunningError):
        await h.buffer.submit(record, h.ack(record))


async def test_run_ends_only_after_the_shutdown_flush(make: Make) -> None:
    h = await make()
    await h.submit("cust-a", "a1", ts=1)
    h.stop.set()
    await settle()
    assert not h.task.done()
    await h.submit("cust-a", "a2", ts=2)  # still taken between stop and the flush

    await h.buffer.flush_all()

    await eventually(h.task.done, timeout_s=2.0, interval_s=0.001)
    await h.task
    assert h.deliver.delivered == [["a1", "a2"]]


async def test_a_blocked_submit_fails_when_the_buffer_closes(make: Make) -> None:
    gate = asyncio.Event()
    h = await make(deliver=FakeDeliver(gate=gate), max_messages=1)
    await h.submit("cust-a", "a1", ts=1)
    blocked = asyncio.create_task(h.submit("cust-b", "b1", ts=1))
    await settle()

    h.stop.set()
    flush = asyncio.create_task(h.buffer.flush_all())
    await settle()
    flush.cancel()  # the caller's shutdown deadline
    with contextlib.suppress(asyncio.CancelledError):
        await flush

    await eventually(h.task.done, timeout_s=2.0, interval_s=0.001)
    with pytest.raises(BufferNotRunningError):
        await blocked
    assert h.outcome("a1") is None  # its delivery was cancelled: re-read after restart


async def test_the_system_clock_waits_for_the_event_or_the_deadline() -> None:
    clock = SystemClock()
    event = asyncio.Event()
    start = clock.monotonic()
    assert await clock.wait(event, start + 0.05) is False
    assert clock.monotonic() - start >= 0.05

    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await clock.wait(event, clock.monotonic() + 5.0) is True


async def test_with_the_real_clock_a_quiet_customer_is_delivered() -> None:
    deliver = FakeDeliver()
    buffer = CustomerBuffer[Msg](
        decode=decode,
        deliver=deliver,
        registry=CollectorRegistry(),
        config=BufferConfig(quiet_s=0.05, max_wait_s=1.0),
    )
    stop = asyncio.Event()
    outcomes: dict[str, AckOutcome] = {}
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(buffer.run(stop))
        await settle()
        for index in range(3):
            record = Record(
                shard_key="s1",
                shard_id="shardId-s1",
                sequence_number=str(index),
                new_image={
                    "customer": {"S": "cust-a"},
                    "message": {"S": f"m{index}"},
                    "ts": {"N": str(index)},
                },
            )
            await buffer.submit(record, FakeAck(str(index), outcomes, [], set()))
        await eventually(lambda: len(outcomes) == 3, timeout_s=2.0, interval_s=0.001)
        stop.set()
        await buffer.flush_all()
    assert deliver.delivered == [["m0", "m1", "m2"]]


# ---------------------------------------------------------------- inspection


async def test_snapshot_describes_each_buffered_customer(make: Make) -> None:
    h = await make(quiet_s=5.0, max_wait_s=20.0)
    await h.submit("cust-a", "a1", ts=1)
    await h.clock.advance(3.0)
    await h.submit("cust-a", "a2", ts=2)
    await h.clock.advance(1.0)

    assert h.buffer.snapshot() == [
        {
            "customer_key": "cust-a",
            "messages": 2,
            "age_s": 4.0,
            "quiet_s": 1.0,
            "in_flight": 0,
            "attempts": 0,
            "next_flush_in_s": 4.0,
        }
    ]


async def test_metrics_follow_the_buffer(make: Make) -> None:
    h = await make()
    await h.submit("cust-a", "a1", ts=1)
    await h.clock.advance(2.0)
    await h.submit("cust-a", "a2", ts=2)
    await h.submit("cust-b", "b1", ts=1)
    assert h.metric("bridge_buffer_customers") == 2
    assert h.metric("bridge_buffer_messages") == 3

    await h.clock.advance(5.0)

    assert h.metric("bridge_buffer_customers") == 0
    assert h.metric("bridge_buffer_messages") == 0
    assert h.metric("bridge_bursts_delivered_total") == 2
    assert h.metric("bridge_burst_messages_sum") == 3
    assert h.metric("bridge_burst_messages_count") == 2
    assert h.metric("bridge_burst_messages_bucket", le="1.0") == 1
    # Both bursts completed 5 s after their last message arrived.
    assert h.metric("bridge_burst_latency_seconds_sum") == pytest.approx(10.0)
    assert h.metric("bridge_flushes_total", reason="quiet") == 2
    assert h.metric("bridge_flushes_total", reason="max_wait") == 0


async def test_logs_name_the_customer_only_under_its_hashed_key(make: Make) -> None:
    h = await make()
    with capture_logs() as logs:
        await h.submit("15550001111#5215512345678", "a1", ts=1)
        await h.clock.advance(5.0)

    delivered = next(entry for entry in logs if entry["event"] == "burst_delivered")
    assert delivered["customer"] == "15550001111#5215512345678"
    for entry in logs:
        others = {k: v for k, v in entry.items() if k != "customer"}
        assert "5215512345678" not in repr(others)
