"""One owned, eligible shard: its reader, its debounced checkpoints, and how it lets go."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import structlog

from service.clock import SYSTEM_CLOCK, Clock
from service.consumers.stream.errors import (
    LeaseLostError,
    LeaseStoreUnavailableError,
    StreamUnavailableError,
)
from service.consumers.stream.leases import SENTINELS
from service.consumers.stream.reader import ShardReader, WakeSignal
from service.consumers.stream.records import AckOutcome
from service.consumers.stream.tracker import RecordTracker

if TYPE_CHECKING:
    from service.consumers.stream.config import StreamConsumerConfig
    from service.consumers.stream.held_lease import HeldLease
    from service.consumers.stream.metrics import StreamMetrics
    from service.consumers.stream.records import DeadLetters, StreamRecordHandler
    from service.consumers.stream.shards import ShardDiscovery, StreamsClient

log = structlog.get_logger(__name__)


class StopMode(StrEnum):
    HANDOFF = "handoff"
    SHUTDOWN = "shutdown"
    LOST = "lost"


class SessionOutcome(StrEnum):
    FINISHED = "finished"
    HANDED_OFF = "handed_off"
    RELEASED = "released"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class SessionResult:
    outcome: SessionOutcome
    child_shard_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _StopRequest:
    mode: StopMode
    to: str | None
    # Shutdown waits here until the coordinator has asked the handler to flush everything.
    flushed: asyncio.Event | None
    deadline: float | None


class ShardSession:
    def __init__(
        self,
        *,
        held: HeldLease,
        streams: StreamsClient,
        stream_arn: str,
        discovery: ShardDiscovery,
        handler: StreamRecordHandler,
        dead_letters: DeadLetters,
        config: StreamConsumerConfig,
        metrics: StreamMetrics,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        wake: WakeSignal | None = None,
    ) -> None:
        self._held = held
        self._discovery = discovery
        self._handler = handler
        self._config = config
        self._metrics = metrics
        self._clock = clock
        lease = held.lease
        self.shard_key = lease.key
        self.shard_id = lease.shard_id
        start = lease.checkpoint
        self.tracker = RecordTracker(checkpoint=None if start in SENTINELS else start)
        self.reader = ShardReader(
            streams=streams,
            stream_arn=stream_arn,
            shard_id=lease.shard_id,
            shard_key=lease.key,
            start=start,
            tracker=self.tracker,
            handler=handler,
            dead_letters=dead_letters,
            on_ack=self._on_ack,
            config=config,
            metrics=metrics,
            clock=clock,
            rng=rng,
            wake=wake,
        )
        self._stop_requested = asyncio.Event()
        self._stop: _StopRequest | None = None
        self._closed = False
        self.reader_stopped = asyncio.Event()

    @property
    def stopping(self) -> StopMode | None:
        return None if self._stop is None else self._stop.mode

    def request_stop(
        self,
        mode: StopMode,
        *,
        to: str | None = None,
        flushed: asyncio.Event | None = None,
        deadline: float | None = None,
    ) -> None:
        # A lost lease overrides a graceful stop already under way: nothing may be written.
        if self._stop is not None and mode is not StopMode.LOST:
            return
        self._stop = _StopRequest(mode=mode, to=to, flushed=flushed, deadline=deadline)
        self._stop_requested.set()

    async def run(self) -> SessionResult:
        reader = asyncio.create_task(self.reader.run(), name=f"stream-reader-{self.shard_id}")
        stop_wait = asyncio.create_task(self._stop_requested.wait())
        drained: asyncio.Task[None] | None = None
        try:
            while True:
                waiters: set[asyncio.Future[Any]] = {stop_wait}
                if reader.done():
                    reader.result()  # a bug in the reader surfaces here
                    if self.tracker.finished:
                        return await self._end_of_shard(reader)
                    if drained is None or drained.done():
                        drained = asyncio.create_task(self.tracker.wait_drained())
                    waiters.add(drained)
                else:
                    waiters.add(reader)
                await asyncio.wait(
                    waiters,
                    timeout=self._config.checkpoint_debounce_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                self._update_gauges()
                if self._stop is not None:
                    return await self._stop_reading(reader)
                if self._held.fenced:
                    self.request_stop(StopMode.LOST)
                    return await self._stop_reading(reader)
                if not await self._write_checkpoint():
                    return await self._stop_reading(reader)
        finally:
            self._closed = True
            for task in (reader, stop_wait, drained):
                if task is not None and not task.done():
                    task.cancel()
            await asyncio.gather(
                *(t for t in (reader, stop_wait, drained) if t is not None),
                return_exceptions=True,
            )
            self.reader_stopped.set()
            self._metrics.forget_shard(self.shard_key)

    def _on_ack(self, sequence_number: str, _outcome: AckOutcome) -> None:
        if self._closed:
            return  # the shard is someone else's now; they re-read from the checkpoint
        self.tracker.mark_done(sequence_number)

    async def _write_checkpoint(self) -> bool:
        """Persist the watermark if it moved; False once the lease turned out to be lost."""
        candidate = self.tracker.checkpoint
        if candidate is None or candidate == self._held.lease.checkpoint:
            return True
        try:
            await self._held.checkpoint(candidate)
        except LeaseLostError:
            self.request_stop(StopMode.LOST)
            return False
        except LeaseStoreUnavailableError:
            self._metrics.errors.labels("checkpoint").inc()
            log.warning("stream_checkpoint_failed", shard_id=self.shard_id)
            return True
        self._metrics.checkpoints.inc()
        return True

    async def _end_of_shard(self, reader: asyncio.Task[None]) -> SessionResult:
        children: list[str] = []
        try:
            children = [info.shard_id for info in await self._discovery.children_of(self.shard_id)]
        except StreamUnavailableError:
            # The next full scan finds them; SHARD_END must not wait for DescribeStream.
            log.warning("stream_child_lookup_failed", shard_id=self.shard_id)
        try:
            await self._held.finish(children)
        except LeaseLostError:
            self.request_stop(StopMode.LOST)
            return await self._stop_reading(reader)
        except LeaseStoreUnavailableError:
            # Retried by the next loop turn of the coordinator: the lease is released
            # unfinished and the next owner finds the shard already read to its end.
            log.warning("stream_shard_end_write_failed", shard_id=self.shard_id)
            self.request_stop(StopMode.SHUTDOWN)
            return await self._stop_reading(reader)
        self._metrics.checkpoints.inc()
        log.info("stream_shard_finished", shard_id=self.shard_id, children=len(children))
        return SessionResult(SessionOutcome.FINISHED, children)

    async def _stop_reading(self, reader: asyncio.Task[None]) -> SessionResult:
        stop = self._stop
        if stop is None:
            raise RuntimeError("a session stops only after a stop request")
        reader.cancel()
        # asyncio.wait, not `await reader`: a cancellation of this task must not be mistaken
        # for the reader's own and swallowed.
        await asyncio.wait({reader})
        if not reader.cancelled() and reader.exception() is not None:
            log.error(
                "stream_reader_failed", shard_id=self.shard_id, error=repr(reader.exception())
            )
        self.reader_stopped.set()
        if stop.mode is StopMode.LOST:
            self._closed = True
            await self._handler.drop_shard(self.shard_key)
            log.warning("stream_shard_dropped", shard_id=self.shard_id)
            return SessionResult(SessionOutcome.LOST)
        return await self._let_go(stop)

    async def _let_go(self, stop: _StopRequest) -> SessionResult:
        deadline = stop.deadline
        if deadline is None:
            deadline = self._clock.monotonic() + self._config.handoff_flush_deadline_s
        try:
            async with asyncio.timeout(max(0.0, deadline - self._clock.monotonic())):
                if stop.mode is StopMode.HANDOFF:
                    await self._handler.flush_shard(self.shard_key)
                elif stop.flushed is not None:
                    await stop.flushed.wait()
                await self.tracker.wait_drained()
        except TimeoutError:
            log.warning(
                "stream_drain_deadline_passed", shard_id=self.shard_id, pending=self.tracker.pending
            )
        self._closed = True
        outcome = (
            SessionOutcome.HANDED_OFF if stop.mode is StopMode.HANDOFF else SessionOutcome.RELEASED
        )
        try:
            if self.tracker.finished and not self._held.fenced:
                await self._held.finish([])
                outcome = SessionOutcome.FINISHED
            else:
                await self._held.release(checkpoint=self.tracker.checkpoint, to=stop.to)
        except LeaseLostError:
            outcome = SessionOutcome.LOST
        except LeaseStoreUnavailableError:
            # The lease simply expires; the next owner starts from the last checkpoint written.
            log.warning("stream_release_failed", shard_id=self.shard_id)
            outcome = SessionOutcome.LOST
        await self._handler.drop_shard(self.shard_key)
        log.info(
            "stream_shard_released",
            shard_id=self.shard_id,
            outcome=outcome.value,
            pending=self.tracker.pending,
        )
        return SessionResult(outcome)

    def _update_gauges(self) -> None:
        self._metrics.checkpoint_lag_records.labels(self.shard_key).set(self.tracker.pending)
        oldest = self.tracker.oldest_pending_created_at
        lag = 0.0 if oldest is None else max(0.0, self._clock.time() - oldest)
        self._metrics.checkpoint_lag_seconds.labels(self.shard_key).set(lag)

    @property
    def lease_checkpoint(self) -> str:
        return self._held.lease.checkpoint
