"""The DynamoDB stream consumer: discovery, leases, one reader per owned shard, shutdown.

Each shard is leased by exactly one worker, so each customer (one partition key, one shard
at a time) is buffered by exactly one task. Semantics follow the Kinesis Client Library;
see reference/stream-consumer.md sections 2 and 7.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from service.clock import SYSTEM_CLOCK, Clock
from service.consumers.stream.balancing import ExpiryObserver, plan_leases
from service.consumers.stream.errors import (
    LeaseLostError,
    LeaseMissingError,
    LeaseStoreUnavailableError,
    StreamThrottledError,
    StreamUnavailableError,
)
from service.consumers.stream.held_lease import HeldLease
from service.consumers.stream.leases import (
    TRIM_HORIZON,
    Lease,
    LeaseStore,
    lease_key,
    stream_label,
)
from service.consumers.stream.metrics import StreamMetrics
from service.consumers.stream.reader import WakeSignal
from service.consumers.stream.shard_session import (
    SessionOutcome,
    SessionResult,
    ShardSession,
    StopMode,
)
from service.consumers.stream.shards import (
    ShardDiscovery,
    StreamsClient,
    StreamView,
    parent_blocks,
    shard_created_at,
)

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from types_aiobotocore_dynamodb import DynamoDBClient

    from service.consumers.stream.config import StreamConsumerConfig
    from service.consumers.stream.records import DeadLetters, StreamRecordHandler

log = structlog.get_logger(__name__)


def make_worker_id(task_id: str) -> str:
    """`<task id>/<uuid>`: a restarted process never mistakes its old leases for live ones."""
    return f"{task_id}/{uuid.uuid4()}"


@dataclass(frozen=True, slots=True)
class ShardSnapshot:
    shard_id: str
    lease_key: str
    owner: str | None
    checkpoint: str
    parent_shard_id: str | None
    state: str
    # Only for shards read by this worker: records not yet done, the age of the oldest.
    pending_records: int | None
    checkpoint_lag_s: float | None
    last_read: str | None
    owner_switches: int


@dataclass(slots=True)
class _PendingHandoff:
    key: str
    owner: str
    requested_at: float


class StreamConsumer:
    def __init__(
        self,
        *,
        config: StreamConsumerConfig,
        stream_arn: str,
        dynamodb: DynamoDBClient,
        leases_table: str,
        streams: StreamsClient,
        handler: StreamRecordHandler,
        dead_letters: DeadLetters,
        registry: CollectorRegistry,
        worker_id: str,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._arn = stream_arn
        self._label = stream_label(stream_arn)
        self._streams = streams
        self._handler = handler
        self._dead_letters = dead_letters
        self._metrics = StreamMetrics(registry)
        self._me = worker_id
        self._clock = clock
        self._rng = rng or random.Random()
        self._store = LeaseStore(
            client=dynamodb,
            table_name=leases_table,
            finished_retention_s=config.finished_lease_retention_s,
            clock=clock,
        )
        self._discovery = ShardDiscovery(
            streams=streams, stream_arn=stream_arn, page_limit=config.describe_page_limit
        )
        self._observer = ExpiryObserver(clock=clock)
        self._held: dict[str, HeldLease] = {}
        self._sessions: dict[str, ShardSession] = {}
        self._session_tasks: set[asyncio.Task[None]] = set()
        self._leases: dict[str, Lease] = {}
        self._view: StreamView | None = None
        self._preferred: set[str] = set()
        self._pending_handoff: _PendingHandoff | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._records_written = WakeSignal()
        self._stopping = False
        self._disabled_alarmed = False
        self._task_group: asyncio.TaskGroup | None = None

    @property
    def worker_id(self) -> str:
        return self._me

    @property
    def metrics(self) -> StreamMetrics:
        return self._metrics

    def held_shards(self) -> list[str]:
        return sorted(held.lease.shard_id for held in self._held.values())

    def records_written(self) -> None:
        """This process just wrote to the table: readers resting on idle shards ask now."""
        self._records_written.fire()

    def request_stop(self) -> None:
        """Begin the graceful shutdown (SIGTERM): `run` returns once it is complete."""
        self._stop.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            self._task_group = group
            renewer = group.create_task(self._renew_loop(), name="stream-lease-renewer")
            scanner = group.create_task(self._scan_loop(), name="stream-lease-scanner")
            await self._stop.wait()
            self._stopping = True
            scanner.cancel()
            await self._shutdown()
            renewer.cancel()

    # ------------------------------------------------------------------ shutdown

    async def _shutdown(self) -> None:
        deadline = self._clock.monotonic() + self._config.drain_deadline_s
        flushed = asyncio.Event()
        sessions = list(self._sessions.values())
        log.info("stream_consumer_stopping", shards=len(sessions), leases=len(self._held))
        for session in sessions:
            session.request_stop(StopMode.SHUTDOWN, flushed=flushed, deadline=deadline)
        # Flush only once no reader can add records behind the flush.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, deadline - self._clock.monotonic())):
                await asyncio.gather(*(session.reader_stopped.wait() for session in sessions))
        try:
            async with asyncio.timeout(max(0.0, deadline - self._clock.monotonic())):
                await self._handler.flush_all()
        except TimeoutError:
            log.warning("stream_flush_deadline_passed")
        except Exception:
            log.exception("stream_flush_failed")
        finally:
            flushed.set()
        if self._session_tasks:
            await asyncio.wait(self._session_tasks)
        # Leases held without a reader (children waiting for a parent) are simply let go.
        for held in list(self._held.values()):
            await self._release_quietly(held, to=None)
        log.info("stream_consumer_stopped")

    async def _release_quietly(self, held: HeldLease, *, to: str | None) -> None:
        self._held.pop(held.key, None)
        self._metrics.leases_held.set(len(self._held))
        try:
            self._leases[held.key] = await held.release(checkpoint=None, to=to)
        except (LeaseLostError, LeaseStoreUnavailableError):
            log.warning("stream_release_failed", shard_id=held.lease.shard_id)

    # ------------------------------------------------------------------ renewal

    async def _renew_loop(self) -> None:
        while True:
            await self._clock.sleep(self._config.renew_interval_s)
            held = list(self._held.values())
            try:
                await asyncio.gather(*(self._renew_one(lease) for lease in held))
            except Exception:  # renewal must outlive a bug in one lease's path
                log.exception("stream_renewal_failed")

    async def _renew_one(self, held: HeldLease) -> None:
        if held.lost:
            return
        try:
            lease = await held.renew()
        except LeaseLostError:
            self._lose(held)
            return
        except LeaseStoreUnavailableError:
            self._metrics.throttled.labels("renew_lease").inc()
            log.warning("stream_lease_renew_failed", shard_id=held.lease.shard_id)
            if held.fenced:
                self._lose(held)
            return
        if lease.handoff_to is not None and lease.handoff_to != self._me:
            self._begin_handoff(held, to=lease.handoff_to)

    def _lose(self, held: HeldLease) -> None:
        if self._held.pop(held.key, None) is None:
            return
        self._count_loss(held)
        held.mark_lost()
        self._metrics.leases_held.set(len(self._held))
        session = self._sessions.get(held.key)
        if session is not None:
            session.request_stop(StopMode.LOST)

    def _count_loss(self, held: HeldLease) -> None:
        if held.missing:
            reason = "missing"
            self._metrics.alarms.labels("lease_row_missing").inc()
            log.error("stream_lease_row_missing", shard_id=held.lease.shard_id)
        else:
            # Not lost by a failed write, so by time: our own renewals stopped succeeding.
            reason = "taken" if held.lost else "fenced"
        self._metrics.lease_lost.labels(reason).inc()
        log.warning("stream_lease_lost", shard_id=held.lease.shard_id, reason=reason)

    def _begin_handoff(self, held: HeldLease, *, to: str) -> None:
        session = self._sessions.get(held.key)
        if session is not None:
            if session.stopping is None:
                self._metrics.handoffs.labels("given").inc()
                log.info("stream_handoff_started", shard_id=held.lease.shard_id)
                session.request_stop(StopMode.HANDOFF, to=to)
            return
        self._metrics.handoffs.labels("given").inc()
        self._spawn(self._release_quietly(held, to=to))

    # ------------------------------------------------------------------ scanning

    async def _scan_loop(self) -> None:
        while True:
            try:
                await self._scan_once()
            except Exception:
                log.exception("stream_scan_failed")
            self._wake.clear()
            pause = self._config.scan_interval_s + self._rng.uniform(0, self._config.scan_jitter_s)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._wake.wait()

    async def _scan_once(self) -> None:
        view = await self._describe()
        try:
            leases = await self._store.list_leases(self._label)
            if view is not None and await self._create_missing(view, leases):
                leases = await self._store.list_leases(self._label)
        except LeaseStoreUnavailableError:
            self._metrics.errors.labels("scan_leases").inc()
            log.warning("stream_lease_scan_failed")
            return
        self._observer.observe(leases)
        self._leases = {lease.key: lease for lease in leases}
        if view is not None:
            self._view = view
        await self._balance(leases)
        self._start_eligible_sessions()

    async def _describe(self) -> StreamView | None:
        try:
            view = await self._discovery.describe()
        except StreamThrottledError:
            self._metrics.throttled.labels("describe_stream").inc()
            log.warning("stream_describe_throttled")
            return None
        except StreamUnavailableError:
            self._metrics.errors.labels("describe_stream").inc()
            log.warning("stream_describe_failed")
            return None
        if view.status in {"DISABLED", "DISABLING"} and not self._disabled_alarmed:
            # Its shards are closed and still readable for 24 h; the re-enabled stream has a
            # new ARN and label that this consumer must be restarted with.
            self._disabled_alarmed = True
            self._metrics.alarms.labels("stream_disabled").inc()
            log.error("stream_disabled", stream_label=self._label)
        return view

    async def _create_missing(self, view: StreamView, leases: list[Lease]) -> bool:
        known = {lease.shard_id for lease in leases}
        now = self._clock.time()
        created = False
        for shard in sorted(view.shards.values(), key=lambda info: info.shard_id):
            if shard.shard_id in known:
                continue
            born = shard_created_at(shard.shard_id)
            if (
                shard.closed
                and born is not None
                and now - born > self._config.finished_lease_retention_s
            ):
                # Its finished lease was purged on purpose; reading it again would replay it.
                continue
            # Children start at TRIM_HORIZON whatever the initial position, or records
            # written between the rollover and our first read would be skipped.
            start = TRIM_HORIZON if shard.parent_shard_id else self._config.initial_position
            created |= await self._store.create(
                label=self._label,
                shard_id=shard.shard_id,
                parent_shard_id=shard.parent_shard_id,
                checkpoint=start,
            )
        return created

    async def _balance(self, leases: list[Lease]) -> None:
        if self._stopping:
            return
        pending = self._check_pending_handoff()
        plan = plan_leases(
            leases=leases,
            me=self._me,
            held=set(self._held),
            observer=self._observer,
            duration_s=self._config.lease_duration_s,
            max_leases=self._config.max_leases_per_worker,
            rng=self._rng,
            preferred_shards=frozenset(self._preferred),
            handoff_pending=pending,
        )
        for lease in plan.take:
            await self._take(lease)
        if plan.request_handoff is not None:
            await self._request_handoff(plan.request_handoff)

    def _check_pending_handoff(self) -> bool:
        pending = self._pending_handoff
        if pending is None:
            return False
        lease = self._leases.get(pending.key)
        if lease is None or lease.owner != pending.owner or lease.handoff_to != self._me:
            self._pending_handoff = None  # handed over, released, or taken by someone else
            return False
        if self._clock.monotonic() - pending.requested_at < self._config.handoff_deadline_s:
            return True
        # The owner did not let go in time (hung, or ignoring requests): take it by force.
        # Its next write fails its condition and it drops the shard. The request stays
        # pending until the take succeeds, since the owner's renewals can win the race.
        self._spawn(self._force_take(lease))
        return True

    async def _force_take(self, lease: Lease) -> None:
        if await self._take(lease):
            self._metrics.handoffs.labels("forced").inc()
            log.warning("stream_handoff_forced", shard_id=lease.shard_id)

    async def _request_handoff(self, lease: Lease) -> None:
        try:
            asked = await self._store.request_handoff(lease, requester=self._me)
        except LeaseStoreUnavailableError:
            log.warning("stream_handoff_request_failed", shard_id=lease.shard_id)
            return
        if asked and lease.owner is not None:
            self._metrics.handoffs.labels("requested").inc()
            log.info("stream_handoff_requested", shard_id=lease.shard_id)
            self._pending_handoff = _PendingHandoff(lease.key, lease.owner, self._clock.monotonic())

    async def _take(self, lease: Lease) -> bool:
        if self._stopping or lease.key in self._held:
            return False
        sent_at = self._clock.monotonic()
        try:
            taken = await self._store.take(lease, owner=self._me)
        except LeaseMissingError:
            self._metrics.alarms.labels("lease_row_missing").inc()
            log.exception("stream_lease_row_missing", shard_id=lease.shard_id)
            return False
        except LeaseLostError:
            return False  # another worker was faster
        except LeaseStoreUnavailableError:
            self._metrics.throttled.labels("take_lease").inc()
            log.warning("stream_lease_take_failed", shard_id=lease.shard_id)
            return False
        held = HeldLease(
            lease=taken,
            store=self._store,
            owner=self._me,
            valid_for_s=self._valid_for(),
            acquired_at=sent_at,
            clock=self._clock,
        )
        self._held[taken.key] = held
        if self._is_stopping():
            # Shutdown began while the take was in flight: hand the lease straight back.
            await self._release_quietly(held, to=None)
            return False
        self._leases[taken.key] = taken
        self._metrics.leases_taken.inc()
        self._metrics.leases_held.set(len(self._held))
        if lease.owner is not None and lease.owner != self._me:
            log.info("stream_lease_taken_over", shard_id=lease.shard_id)
        elif lease.owner == self._me:
            self._metrics.handoffs.labels("received").inc()
        log.info("stream_lease_taken", shard_id=lease.shard_id, checkpoint=taken.checkpoint)
        return True

    def _is_stopping(self) -> bool:
        return self._stopping

    def _valid_for(self) -> float:
        return self._config.lease_duration_s - self._config.fencing_safety_s

    # ------------------------------------------------------------------ sessions

    def _start_eligible_sessions(self) -> None:
        if self._stopping:
            return
        by_shard = {lease.shard_id: lease for lease in self._leases.values()}
        now = self._clock.time()
        for key, held in list(self._held.items()):
            if key in self._sessions or held.lost:
                continue
            if parent_blocks(
                held.lease,
                leases_by_shard=by_shard,
                view=self._view,
                now_wall=now,
                missing_parent_block_s=self._config.missing_parent_block_s,
            ):
                continue
            self._start_session(held)

    def _start_session(self, held: HeldLease) -> None:
        session = ShardSession(
            held=held,
            streams=self._streams,
            stream_arn=self._arn,
            discovery=self._discovery,
            handler=self._handler,
            dead_letters=self._dead_letters,
            config=self._config,
            metrics=self._metrics,
            clock=self._clock,
            rng=self._rng,
            wake=self._records_written,
        )
        self._sessions[held.key] = session
        self._preferred.discard(held.lease.shard_id)
        log.info("stream_shard_reading", shard_id=held.lease.shard_id)
        self._spawn(self._run_session(session, held))

    async def _run_session(self, session: ShardSession, held: HeldLease) -> None:
        result: SessionResult | None = None
        try:
            result = await session.run()
        except Exception:
            log.exception("stream_session_failed", shard_id=session.shard_id)
            await self._handler.drop_shard(session.shard_key)
            # Let go without a checkpoint: the next owner re-reads from the last one written.
            await self._release_quietly(held, to=None)
        finally:
            # Also reached when the consumer is cancelled: nothing is written or counted then,
            # exactly as after a SIGKILL.
            self._sessions.pop(session.shard_key, None)
            self._leases[held.key] = held.lease  # its last write: released, finished, handed on
            if self._held.get(held.key) is held:
                del self._held[held.key]
                if result is not None and result.outcome is SessionOutcome.LOST:
                    # Found by the session itself (a failed checkpoint, or fencing).
                    self._count_loss(held)
            held.mark_lost()
            self._metrics.leases_held.set(len(self._held))
        if result is None:
            return
        if result.outcome is SessionOutcome.FINISHED:
            await self._adopt_children(session.shard_id, result.child_shard_ids)
        elif result.outcome is SessionOutcome.HANDED_OFF:
            log.info("stream_handoff_completed", shard_id=session.shard_id)

    async def _adopt_children(self, parent: str, children: list[str]) -> None:
        """Read a finished shard's children here: the buffers already hold its customers."""
        if self._stopping:
            return
        parent_key = lease_key(self._label, parent)
        finished = await self._store_get(parent_key)
        if finished is not None:
            self._leases[parent_key] = finished
        for child in children:
            self._preferred.add(child)
            try:
                await self._store.create(
                    label=self._label,
                    shard_id=child,
                    parent_shard_id=parent,
                    checkpoint=TRIM_HORIZON,
                )
                lease = await self._store.get(lease_key(self._label, child))
            except LeaseStoreUnavailableError:
                continue
            if (
                lease is not None
                and lease.owner is None
                and not lease.finished
                and len(self._held) < self._config.max_leases_per_worker
            ):
                await self._take(lease)
        self._start_eligible_sessions()
        self._wake.set()

    async def _store_get(self, key: str) -> Lease | None:
        try:
            return await self._store.get(key)
        except LeaseStoreUnavailableError:
            return None

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        group = self._task_group
        if group is None:
            coroutine.close()
            return
        task = group.create_task(self._guarded(coroutine))
        self._session_tasks.add(task)
        task.add_done_callback(self._session_tasks.discard)

    @staticmethod
    async def _guarded(coroutine: Coroutine[Any, Any, Any]) -> None:
        # A failure in one background step must not cancel the whole consumer's task group.
        try:
            await coroutine
        except Exception:
            log.exception("stream_background_step_failed")

    # ------------------------------------------------------------------ inspection

    def snapshot(self) -> list[ShardSnapshot]:
        """Every known shard of the stream, for `GET /admin/shards` (read-only)."""
        by_shard = {lease.shard_id: lease for lease in self._leases.values()}
        now = self._clock.time()
        shards: list[ShardSnapshot] = []
        for key, lease in sorted(self._leases.items()):
            held = self._held.get(key)
            current = held.lease if held is not None else lease
            session = self._sessions.get(key)
            if current.finished:
                state = "finished"
            elif session is not None:
                state = "handing_off" if session.stopping is StopMode.HANDOFF else "reading"
            elif parent_blocks(
                current,
                leases_by_shard=by_shard,
                view=self._view,
                now_wall=now,
                missing_parent_block_s=self._config.missing_parent_block_s,
            ):
                state = "waiting_for_parent"
            elif current.owner is None:
                state = "unowned"
            else:
                state = "leased"
            shards.append(
                ShardSnapshot(
                    shard_id=current.shard_id,
                    lease_key=key,
                    owner=current.owner,
                    checkpoint=current.checkpoint,
                    parent_shard_id=current.parent_shard_id,
                    state=state,
                    pending_records=None if session is None else session.tracker.pending,
                    checkpoint_lag_s=None if session is None else self._lag(session),
                    last_read=None if session is None else session.reader.last_read,
                    owner_switches=current.owner_switches,
                )
            )
        return shards

    def _lag(self, session: ShardSession) -> float:
        oldest = session.tracker.oldest_pending_created_at
        return 0.0 if oldest is None else max(0.0, self._clock.time() - oldest)
