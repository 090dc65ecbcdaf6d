import asyncio
import contextlib
import dataclasses
import itertools
import random
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from service.consumers.stream.config import StreamConsumerConfig
from service.consumers.stream.metrics import StreamMetrics
from service.consumers.stream.reader import ShardReader, WakeSignal
from service.consumers.stream.records import AckOutcome
from service.consumers.stream.tracker import RecordTracker
from tests.fakes.stream_handler import ListDeadLetters, ScriptedHandler, message_id
from tests.fakes.streams import FakeStreams
from tests.support.clock import FakeClock, settle
from tests.support.waiting import eventually

CONFIG = StreamConsumerConfig(
    idle_poll_interval_s=0.01,
    idle_backoff_max_s=0.08,
    wake_min_gap_s=0.0,
    batch_limit=3,
    backoff_base_s=0.001,
    backoff_max_s=0.01,
)


class Harness:
    def __init__(
        self,
        streams: FakeStreams,
        shard: str,
        *,
        start: str = "TRIM_HORIZON",
        mode: str = "now",
        clock: FakeClock | None = None,
        wake: WakeSignal | None = None,
        config: StreamConsumerConfig = CONFIG,
    ):
        self.streams = streams
        self.registry = CollectorRegistry()
        self.metrics = StreamMetrics(self.registry)
        self.tracker = RecordTracker(
            checkpoint=None if start in {"TRIM_HORIZON", "LATEST"} else start
        )
        self.handler = ScriptedHandler(mode=mode)
        self.dead_letters = ListDeadLetters()
        self.clock = clock or FakeClock(auto_advance=True)
        self.reader = ShardReader(
            streams=streams,
            stream_arn=streams.arn,
            shard_id=shard,
            shard_key=f"{streams.label}#{shard}",
            start=start,
            tracker=self.tracker,
            handler=self.handler,
            dead_letters=self.dead_letters,
            on_ack=self.on_ack,
            config=config,
            metrics=self.metrics,
            rng=random.Random(3),
            clock=self.clock,
            wake=wake,
        )

    def on_ack(self, sequence: str, _outcome: AckOutcome) -> None:
        self.tracker.mark_done(sequence)

    @property
    def sleeps(self) -> list[float]:
        return self.clock.sleeps

    def metric(self, name: str, labels=None) -> float:
        return self.registry.get_sample_value(name, labels or {}) or 0.0

    def delivered(self) -> list[str]:
        return [d.message_id for d in self.handler.deliveries]


def closed_shard_with(streams: FakeStreams, count: int, *, close: bool = True) -> str:
    shard = streams.add_shard()
    for i in range(count):
        streams.put(shard, customer="c1", message_id=f"m{i}")
    if close:
        streams.close(shard)
    return shard


async def test_reads_a_closed_shard_to_its_end_in_order():
    streams = FakeStreams()
    shard = closed_shard_with(streams, 7)
    h = Harness(streams, shard)
    await asyncio.wait_for(h.reader.run(), 5)
    assert h.delivered() == [f"m{i}" for i in range(7)]
    assert h.tracker.finished
    assert h.tracker.checkpoint == streams.sequence_numbers(shard)[-1]


async def test_full_batches_are_followed_at_once_and_short_ones_wait_the_idle_interval():
    streams = FakeStreams()
    shard = closed_shard_with(streams, 7, close=False)
    h = Harness(streams, shard)
    task = asyncio.create_task(h.reader.run())
    await eventually(lambda: len(h.delivered()) == 7 and len(h.sleeps) >= 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Pages of 3, 3 and 1: only the short page (and the empty ones after it) waits.
    assert streams.calls["GetRecords"] >= 3
    assert h.sleeps[0] == CONFIG.idle_poll_interval_s
    assert len(h.sleeps) == streams.calls["GetRecords"] - 2


async def test_an_idle_shard_is_asked_less_and_less_often_and_records_reset_the_pace():
    streams = FakeStreams()
    shard = streams.add_shard()
    h = Harness(streams, shard)
    task = asyncio.create_task(h.reader.run())
    await eventually(lambda: len(h.sleeps) >= 6)
    # Each empty page doubles the wait, up to the cap.
    assert h.sleeps[:6] == [0.01, 0.02, 0.04, 0.08, 0.08, 0.08]
    streams.put(shard, customer="c1", message_id="m1")
    await eventually(lambda: h.delivered() == ["m1"])
    seen = len(h.sleeps)
    await eventually(lambda: len(h.sleeps) >= seen + 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The page with the record waits the short interval again (so does the first empty
    # page after it), and the waits grow from there.
    after = h.sleeps[6:]
    reset = after.index(0.01)
    assert set(after[:reset]) == {0.08}
    assert after[reset : reset + 4] == [0.01, 0.01, 0.02, 0.04]


async def test_a_wake_ends_a_long_rest_at_once():
    streams = FakeStreams()
    shard = streams.add_shard()
    clock = FakeClock()  # time moves only when the test says so
    wake = WakeSignal()
    h = Harness(streams, shard, clock=clock, wake=wake)
    task = asyncio.create_task(h.reader.run())
    for _ in range(5):  # empty pages: 0.01, 0.02, 0.04, 0.08 ...
        await clock.advance(0.08)
    asked = streams.calls["GetRecords"]
    now = clock.monotonic()
    streams.put(shard, customer="c1", message_id="m1")
    await settle()
    assert h.delivered() == []  # resting: without a wake it would wait up to 0.08 s more
    wake.fire()
    await eventually(lambda: h.delivered() == ["m1"])
    assert clock.monotonic() == now  # no time passed: the wake did it
    assert streams.calls["GetRecords"] == asked + 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# Production's read intervals; pages never full (a full page is read on at once).
UNDER_LOAD = dataclasses.replace(
    CONFIG, idle_poll_interval_s=0.25, idle_backoff_max_s=1.0, batch_limit=1000
)


@contextlib.asynccontextmanager
async def _reading(
    streams: FakeStreams, shard: str, config: StreamConsumerConfig
) -> AsyncIterator[tuple[Harness, WakeSignal]]:
    wake = WakeSignal()
    h = Harness(streams, shard, clock=FakeClock(), wake=wake, config=config)
    task = asyncio.create_task(h.reader.run())
    try:
        yield h, wake
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_wake_ends_the_short_rest_after_a_page_too():
    # Under load a shard is read every short interval; a message this process just wrote
    # would wait out the rest of it (0.125 s on average with the default 0.25 s).
    streams = FakeStreams()
    shard = streams.add_shard()
    streams.put(shard, customer="c1", message_id="m1")
    async with _reading(streams, shard, UNDER_LOAD) as (h, wake):
        await eventually(lambda: h.delivered() == ["m1"])  # a page with a record: short rest
        now = h.clock.monotonic()
        streams.put(shard, customer="c1", message_id="m2")
        wake.fire()
        await eventually(lambda: h.delivered() == ["m1", "m2"])
        assert h.clock.monotonic() == now  # read at once, not 0.25 s later


async def test_frequent_writes_wake_a_reader_no_more_often_than_the_minimum_gap():
    streams = FakeStreams()
    shard = streams.add_shard()
    config = dataclasses.replace(UNDER_LOAD, wake_min_gap_s=0.05)
    async with _reading(streams, shard, config) as (h, wake):
        await eventually(lambda: streams.calls["GetRecords"] == 1)
        asked_at: list[float] = []
        for number in range(20):  # a write every 10 ms for 0.2 s
            streams.put(shard, customer="c1", message_id=f"m{number}")
            wake.fire()
            await settle()
            if streams.calls["GetRecords"] > len(asked_at) + 1:
                asked_at.append(h.clock.monotonic())
            await h.clock.advance(0.01)
    assert len(asked_at) >= 3  # woken, not waiting out the 0.25 s interval
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(asked_at)]
    assert min(gaps) >= 0.05


async def test_an_empty_open_shard_keeps_polling_and_never_ends():
    streams = FakeStreams()
    shard = streams.add_shard()
    h = Harness(streams, shard)
    task = asyncio.create_task(h.reader.run())
    await eventually(lambda: streams.calls["GetRecords"] >= 5)
    assert not task.done()
    assert not h.tracker.fully_read
    streams.put(shard, customer="c1", message_id="late")
    await eventually(lambda: h.delivered() == ["late"])
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_starts_after_a_checkpoint():
    streams = FakeStreams()
    shard = closed_shard_with(streams, 5)
    h = Harness(streams, shard, start=streams.sequence_numbers(shard)[2])
    await asyncio.wait_for(h.reader.run(), 5)
    assert h.delivered() == ["m3", "m4"]


async def test_expired_iterator_resumes_after_the_last_record_read():
    streams = FakeStreams()
    shard = closed_shard_with(streams, 6)
    h = Harness(streams, shard)
    first_page = asyncio.Event()
    original = h.handler.submit

    async def submit(record, ack):
        await original(record, ack)
        if message_id(record) == "m2":
            streams.advance(16 * 60)  # the iterator for the next page expires meanwhile
            first_page.set()

    h.handler.submit = submit  # type: ignore[method-assign]
    await asyncio.wait_for(h.reader.run(), 5)
    assert h.delivered() == [f"m{i}" for i in range(6)]
    assert h.metric("bridge_stream_expired_iterators_total") == 1


async def test_an_iterator_held_too_long_is_rebuilt_before_use():
    streams = FakeStreams()
    shard = closed_shard_with(streams, 6)
    h = Harness(streams, shard)
    original = h.handler.submit

    async def submit(record, ack):
        await original(record, ack)
        h.clock.tick(CONFIG.iterator_refresh_s)  # a long backpressure pause

    h.handler.submit = submit  # type: ignore[method-assign]
    await asyncio.wait_for(h.reader.run(), 5)
    assert h.delivered() == [f"m{i}" for i in range(6)]
    assert streams.calls["GetShardIterator"] == 2  # the first, and one after the long pause
    assert h.metric("bridge_stream_expired_iterators_total") == 0


async def test_trimmed_records_raise_an_alarm_and_reading_resumes_at_trim_horizon():
    streams = FakeStreams()
    shard = closed_shard_with(streams, 6)
    streams.trim(shard, 3)
    h = Harness(streams, shard, start=streams.sequence_numbers(shard)[0])
    with capture_logs() as logs:
        await asyncio.wait_for(h.reader.run(), 5)
    assert h.delivered() == ["m3", "m4", "m5"]
    assert h.metric("bridge_stream_trimmed_total") == 1
    assert [e["log_level"] for e in logs if e["event"] == "stream_records_trimmed"] == ["error"]


async def test_trimming_between_iterator_and_read_is_also_reported():
    streams = FakeStreams()
    shard = closed_shard_with(streams, 4)
    h = Harness(streams, shard)
    iterator = await streams.get_shard_iterator(
        StreamArn=streams.arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )
    assert iterator["ShardIterator"]
    streams.trim(shard, 2)
    streams.fail("GetRecords", "TrimmedDataAccessException")
    await asyncio.wait_for(h.reader.run(), 5)
    assert h.delivered() == ["m2", "m3"]
    assert h.metric("bridge_stream_trimmed_total") == 1


async def test_throttling_backs_off_with_jitter_and_keeps_the_iterator():
    streams = FakeStreams()
    shard = closed_shard_with(streams, 2)
    streams.fail("GetRecords", "LimitExceededException", times=5)
    streams.fail("GetShardIterator", "ThrottlingException", times=2)
    h = Harness(streams, shard)
    await asyncio.wait_for(h.reader.run(), 5)
    assert h.delivered() == ["m0", "m1"]
    assert h.metric("bridge_stream_throttled_total", {"operation": "get_records"}) == 5
    assert h.metric("bridge_stream_throttled_total", {"operation": "get_shard_iterator"}) == 2
    assert streams.calls["GetShardIterator"] == 3  # throttling did not rebuild the iterator
    assert all(0 <= s <= CONFIG.backoff_max_s for s in h.sleeps)


async def test_unknown_errors_rebuild_the_iterator_from_the_last_record_read():
    streams = FakeStreams()
    shard = closed_shard_with(streams, 5)
    h = Harness(streams, shard)
    original = h.handler.submit

    async def submit(record, ack):
        await original(record, ack)
        if message_id(record) == "m1":
            streams.fail("GetRecords", "InternalServerError")

    h.handler.submit = submit  # type: ignore[method-assign]
    await asyncio.wait_for(h.reader.run(), 5)
    assert h.delivered() == [f"m{i}" for i in range(5)]
    assert h.metric("bridge_stream_errors_total", {"operation": "get_records"}) == 1


async def test_a_vanished_shard_ends_with_an_alarm():
    streams = FakeStreams()
    h = Harness(streams, "shardId-00000001772323200000-deadbeef")
    await asyncio.wait_for(h.reader.run(), 5)
    assert h.tracker.fully_read
    assert h.metric("bridge_stream_alarms_total", {"kind": "shard_vanished"}) == 1


async def test_a_record_the_handler_rejects_is_parked_before_it_counts_as_done():
    streams = FakeStreams()
    shard = closed_shard_with(streams, 3)
    h = Harness(streams, shard)
    h.handler.poison = lambda record: message_id(record) == "m1"
    h.dead_letters.failures_left = 2
    await asyncio.wait_for(h.reader.run(), 5)
    assert [message_id(r) for r, _ in h.dead_letters.parked] == ["m1"]
    assert h.delivered() == ["m0", "m2"]
    assert h.tracker.finished


async def test_cancelled_while_blocked_in_submit_leaves_nothing_pending():
    streams = FakeStreams()
    shard = closed_shard_with(streams, 3)
    h = Harness(streams, shard)
    h.handler.gate.clear()
    task = asyncio.create_task(h.reader.run())
    await eventually(lambda: h.handler.waiting == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert h.tracker.pending == 0  # a graceful stop need not wait for it
    assert h.tracker.checkpoint is None


async def test_a_write_during_the_call_that_missed_it_still_ends_the_rest_after_it():
    wake = WakeSignal()

    class WriteDuringCall(FakeStreams):
        armed = False

        async def get_records(self, **kwargs):
            response = await super().get_records(**kwargs)
            if self.armed:  # the page is taken: the write lands too late for it
                self.armed = False
                self.put(shard, customer="c1", message_id="m1")
                wake.fire()
            return response

    streams = WriteDuringCall()
    shard = streams.add_shard()
    clock = FakeClock()
    h = Harness(streams, shard, clock=clock, wake=wake)
    task = asyncio.create_task(h.reader.run())
    for _ in range(5):  # into the long rests
        await clock.advance(0.08)
    streams.armed = True
    await clock.advance(0.08)  # the next call runs, and the write lands during it
    now = clock.monotonic()
    await eventually(lambda: h.delivered() == ["m1"])
    assert clock.monotonic() == now  # read without waiting out the rest
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
