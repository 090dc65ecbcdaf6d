"""One shard's GetRecords loop: read in order, register every record, hand new messages on."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from service.aws_errors import ErrorKind, classify
from service.backoff import Attempts, Backoff
from service.clock import SYSTEM_CLOCK, Clock
from service.consumers.stream.leases import LATEST, SENTINELS, TRIM_HORIZON
from service.consumers.stream.records import (
    Ack,
    AckOutcome,
    DeadLetters,
    StreamRecord,
    StreamRecordHandler,
    parse_new_message,
)
from service.consumers.stream.shards import StreamsClient

if TYPE_CHECKING:
    from service.consumers.stream.config import StreamConsumerConfig
    from service.consumers.stream.metrics import StreamMetrics
    from service.consumers.stream.tracker import RecordTracker

log = structlog.get_logger(__name__)


class WakeSignal:
    """Wakes every reader resting on an idle shard: "a record was just written".

    Fired by the process's own writes to the table (through the composition root); a reader
    that is not resting does not notice, so firing costs nothing under load.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        # Set the event the current sleepers hold, then give the next ones a fresh one.
        self._event.set()
        self._event = asyncio.Event()

    @property
    def event(self) -> asyncio.Event:
        return self._event


class ShardReader:
    def __init__(
        self,
        *,
        streams: StreamsClient,
        stream_arn: str,
        shard_id: str,
        shard_key: str,
        start: str,
        tracker: RecordTracker,
        handler: StreamRecordHandler,
        dead_letters: DeadLetters,
        on_ack: Callable[[str, AckOutcome], None],
        config: StreamConsumerConfig,
        metrics: StreamMetrics,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        wake: WakeSignal | None = None,
    ) -> None:
        self._streams = streams
        self._arn = stream_arn
        self._shard_id = shard_id
        self._key = shard_key
        self._tracker = tracker
        self._handler = handler
        self._dead_letters = dead_letters
        self._on_ack = on_ack
        self._config = config
        self._metrics = metrics
        self._clock = clock
        self._backoff = Attempts(
            Backoff(base_s=config.backoff_base_s, max_s=config.backoff_max_s),
            rng or random.Random(),
        )
        # Where reading resumes: after the last record read, never after the checkpoint,
        # so an iterator rebuilt mid-shard neither skips nor repeats anything.
        self._last_read: str | None = None if start in SENTINELS else start
        self._start_sentinel = start if start in SENTINELS else None
        self._from_trim_horizon = False
        self._iterator_issued_at = 0.0
        self._asked_at = float("-inf")  # when the last GetRecords was sent (monotonic)
        self._wake = wake
        self._rest_s = config.idle_poll_interval_s

    @property
    def last_read(self) -> str | None:
        return self._last_read

    async def run(self) -> None:
        """Read until the shard is closed and fully read; cancel to stop."""
        iterator: str | None = None
        while True:
            age = self._clock.monotonic() - self._iterator_issued_at
            if iterator is not None and age >= self._config.iterator_refresh_s:
                iterator = None
            if iterator is None:
                iterator = await self._new_iterator()
                if iterator is None:
                    self._tracker.mark_fully_read()
                    return
            # Taken before the call: a write that lands while it is in flight (too late for
            # this page) must still cut the rest after it short.
            written = None if self._wake is None else self._wake.event
            self._asked_at = self._clock.monotonic()
            response, rebuild = await self._get_records(iterator)
            if response is None:
                iterator = None if rebuild else iterator
                continue
            self._backoff.reset()
            records: Sequence[Mapping[str, Any]] = response.get("Records", [])
            issued_at = self._clock.monotonic()
            await self._consume(records)
            following = response.get("NextShardIterator")
            if not following:
                # Only a missing NextShardIterator ends a shard; an empty page does not.
                self._tracker.mark_fully_read()
                log.info("stream_shard_fully_read", shard_id=self._shard_id)
                return
            iterator = following
            self._iterator_issued_at = issued_at
            if len(records) < self._config.batch_limit:
                await self._rest(empty=not records, written=written)

    async def _rest(self, *, empty: bool, written: asyncio.Event | None) -> None:
        """Wait before asking a shard that had no more to give again.

        After a page with records the wait is the short interval; each empty page doubles
        it up to `idle_backoff_max_s`, so a quiet worker asks ~1/s instead of 4/s per shard.
        A wake (this process wrote a record) ends any wait, short or long, and restarts
        from the short interval: the record may take a moment to reach the stream, so the
        next few asks come quickly. Waking from the short wait too (it used to be waited
        out) took a customer's message from EUM's publication to the buffer in 0.12 s
        instead of 0.24 s on average with one task, and a burst's added latency p50 from
        0.26 s to 0.14 s (`make bench`), for ~0.2 more GetRecords a burst. Only writes by
        this process wake its readers: with several tasks, a record another task wrote
        still waits for the interval. Asks stay `wake_min_gap_s` apart, so a process that
        writes often asks a shard at most 20 times a second.
        """
        base = self._config.idle_poll_interval_s
        if not empty:
            self._rest_s = base
        delay = self._rest_s
        if empty:
            self._rest_s = min(self._rest_s * 2, self._config.idle_backoff_max_s)
        if written is None:
            await self._clock.sleep(delay)
            return
        if not await self._clock.wait(written, self._clock.monotonic() + delay):
            return
        self._rest_s = base
        gap = min(self._config.wake_min_gap_s, base)
        due = self._asked_at + gap - self._clock.monotonic()
        if due > 0:
            await self._clock.sleep(due)

    async def _get_records(self, iterator: str) -> tuple[Mapping[str, Any] | None, bool]:
        """The response, or None and whether the iterator must be rebuilt before a retry."""
        try:
            response = await self._streams.get_records(
                ShardIterator=iterator, Limit=self._config.batch_limit
            )
        except (BotoCoreError, ClientError) as exc:
            failure = classify(exc, service="dynamodbstreams", operation="GetRecords")
            if failure.kind is ErrorKind.ITERATOR_EXPIRED:
                self._metrics.expired_iterators.inc()
                log.info("stream_iterator_expired", shard_id=self._shard_id)
                return None, True
            if failure.kind is ErrorKind.DATA_TRIMMED:
                self._on_trimmed()
                return None, True
            if failure.kind is ErrorKind.THROTTLED:
                # The iterator stays valid: throttling says nothing about our position.
                self._metrics.throttled.labels("get_records").inc()
                await self._clock.sleep(self._backoff.next_delay())
                return None, False
            if failure.kind is ErrorKind.NOT_FOUND:
                self._on_vanished()
                return None, True
            self._metrics.errors.labels("get_records").inc()
            log.warning("stream_get_records_failed", shard_id=self._shard_id, code=failure.code)
        else:
            return response, False
        await self._clock.sleep(self._backoff.next_delay())
        return None, True

    async def _new_iterator(self) -> str | None:
        while True:
            kind, sequence = self._position()
            try:
                if sequence is None:
                    response = await self._streams.get_shard_iterator(
                        StreamArn=self._arn, ShardId=self._shard_id, ShardIteratorType=kind
                    )
                else:
                    response = await self._streams.get_shard_iterator(
                        StreamArn=self._arn,
                        ShardId=self._shard_id,
                        ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                        SequenceNumber=sequence,
                    )
            except (BotoCoreError, ClientError) as exc:
                failure = classify(exc, service="dynamodbstreams", operation="GetShardIterator")
                if failure.kind is ErrorKind.DATA_TRIMMED:
                    self._on_trimmed()
                    continue
                if failure.kind is ErrorKind.NOT_FOUND:
                    self._on_vanished()
                    return None
                if failure.kind is ErrorKind.THROTTLED:
                    self._metrics.throttled.labels("get_shard_iterator").inc()
                else:
                    self._metrics.errors.labels("get_shard_iterator").inc()
                    log.warning(
                        "stream_get_iterator_failed", shard_id=self._shard_id, code=failure.code
                    )
            else:
                self._iterator_issued_at = self._clock.monotonic()
                return response["ShardIterator"]
            await self._clock.sleep(self._backoff.next_delay())

    def _position(self) -> tuple[Any, str | None]:
        if self._from_trim_horizon:
            return TRIM_HORIZON, None
        if self._last_read is not None:
            return "AFTER_SEQUENCE_NUMBER", self._last_read
        return (LATEST if self._start_sentinel == LATEST else TRIM_HORIZON), None

    def _on_trimmed(self) -> None:
        # Records between our position and the trim horizon are gone: never silent.
        self._metrics.trimmed.inc()
        log.error(
            "stream_records_trimmed",
            shard_id=self._shard_id,
            resumed_after=self._last_read,
            resume_at=TRIM_HORIZON,
        )
        self._from_trim_horizon = True

    def _on_vanished(self) -> None:
        self._metrics.alarms.labels("shard_vanished").inc()
        log.error("stream_shard_vanished", shard_id=self._shard_id, last_read=self._last_read)

    async def _consume(self, records: Sequence[Mapping[str, Any]]) -> None:
        newest_created: float | None = None
        for raw in records:
            sequence = (raw.get("dynamodb") or {}).get("SequenceNumber")
            if sequence is None:
                continue
            if self._last_read is not None and int(sequence) <= int(self._last_read):
                continue  # a re-served record: it is already tracked
            created = (raw.get("dynamodb") or {}).get("ApproximateCreationDateTime")
            created_at = created.timestamp() if created is not None else None
            newest_created = created_at if created_at is not None else newest_created
            self._tracker.register(sequence, created_at=created_at)
            self._last_read = sequence
            self._from_trim_horizon = False
            record = parse_new_message(raw, shard_key=self._key, shard_id=self._shard_id)
            if record is None:
                self._metrics.records.labels("ignored").inc()
                self._on_ack(sequence, AckOutcome.DELIVERED)
                continue
            self._metrics.records.labels("submitted").inc()
            try:
                await self._submit(record)
            except asyncio.CancelledError:
                # Never handed over (or never parked): forget it so a graceful stop does
                # not wait for an acknowledgement that cannot come. The checkpoint stays
                # before it and the next owner reads it again.
                self._tracker.abandon(sequence)
                raise
        if newest_created is not None:
            self._metrics.iterator_age.labels(self._key).set(
                max(0.0, self._clock.time() - newest_created)
            )
        elif not records:
            self._metrics.iterator_age.labels(self._key).set(0.0)

    async def _submit(self, record: StreamRecord) -> None:
        async def park(reason: str) -> None:
            await self._park(record, reason=reason)

        ack = Ack(sequence_number=record.sequence_number, on_done=self._on_ack, parker=park)
        try:
            await self._handler.submit(record, ack)
        except Exception as exc:
            log.exception("stream_record_rejected", shard_id=self._shard_id)
            await ack.park(f"handler raised {type(exc).__name__}")

    async def _park(self, record: StreamRecord, *, reason: str) -> None:
        backoff = Attempts(
            Backoff(base_s=self._config.backoff_base_s, max_s=self._config.backoff_max_s),
            random.Random(),
        )
        while True:
            try:
                await self._dead_letters.park(record, reason=reason)
            except Exception:
                self._metrics.errors.labels("dead_letters").inc()
                log.exception("stream_record_park_failed", shard_id=self._shard_id)
                await self._clock.sleep(backoff.next_delay())
            else:
                self._metrics.records.labels("parked").inc()
                return
