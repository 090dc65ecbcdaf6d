"""A long-polling SQS consumer: bounded concurrency, per-message verdicts, clean hand-back.

The handler receives a batch (up to 10 messages from one receive) and returns a verdict
per message; this consumer is the one place that acts on verdicts:

    DONE    delete (with the latest receipt handle; per-entry failures checked)
    RETRY   keep it here, invisible (the heartbeat extends it), and handle it again after a
            growing backoff: handing it back would spend a receive of its poison budget
            (maxReceiveCount) on trouble that is not the message's (throttling, an outage).
            Bounded by `max_retry_s`; then it is parked with the reason of its last failure
    POISON  send it to the DLQ now, then delete it: waiting for maxReceiveCount receives of
            a message that can never succeed only delays every other message

Verdicts are per message, always: a message the handler gives no verdict for is retried,
and when the handler raises for a batch, each message is handled again on its own so only
the one that raises is retried (one hostile message must not spend the retries of nine
good ones). A message that reaches the queue's `maxReceiveCount` (received by workers that
died before answering) and still fails is parked here, with the reason of its last
failure, instead of being left to SQS's redrive, which would park it without one. While
many messages wait for a retry, receiving pauses (`max_held_messages`): backpressure.

While a batch is in progress a heartbeat keeps its messages invisible. On shutdown the
consumer stops receiving: a long poll already in flight is allowed to return (cancelling
it could lose what SQS already handed out: those messages would stay invisible for the
visibility timeout), and whatever it returns is handed straight back. In-flight batches
finish until the drain deadline; what is left is cancelled and handed back (visibility 0)
so another worker takes it at once instead of after the visibility timeout.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from service.aws_errors import classify
from service.backoff import Backoff
from service.clock import SYSTEM_CLOCK, Clock
from service.consumers.dead_letters import DeadLetterQueue
from service.consumers.sqs.message import QueueMessage, from_sqs
from service.errors import BridgeError
from service.health import Heartbeat

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        DeleteMessageBatchRequestEntryTypeDef,
    )

log = structlog.get_logger(__name__)

T = TypeVar("T")

# SQS limits: 10 entries per batch call; visibility can never exceed 12 h from receive.
_BATCH_LIMIT = 10
_MAX_VISIBILITY_S = 12 * 3600


class Outcome(StrEnum):
    DONE = "done"
    RETRY = "retry"
    POISON = "poison"


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    # Must be free of PII: it is logged and attached to the message parked in the DLQ.
    reason: str = ""
    retry_after_s: float | None = None
    # A short, fixed word for the parked-messages metric (`malformed`, `too_large`, ...).
    cause: str = "poison"


DONE = Verdict(Outcome.DONE)

BatchHandler = Callable[[Sequence[QueueMessage]], Awaitable[Mapping[str, Verdict]]]


@dataclass(frozen=True, slots=True)
class SqsConsumerConfig:
    wait_time_s: int = 20
    batch_size: int = 10
    max_in_flight_batches: int = 4
    # What the heartbeat extends in-flight messages to, each time it runs.
    visibility_timeout_s: int = 60
    heartbeat_interval_s: float = 20.0
    retry_base_s: float = 2.0
    retry_max_s: float = 300.0
    error_backoff_max_s: float = 30.0
    drain_timeout_s: float = 20.0
    # The queue's redrive maxReceiveCount: a message still failing on this receive is
    # parked here with its reason (None: leave it to SQS).
    max_receives: int | None = None
    # A message whose handling keeps failing is kept here (invisible, with growing
    # backoff) rather than handed back: every receive would spend its poison budget
    # (maxReceiveCount) on trouble that is not the message's. Bounded in time; beyond,
    # it is parked with the reason.
    max_retry_s: float = 3600.0
    # Backpressure: no new receive while this many messages are held here.
    max_held_messages: int = 200
    # On shutdown, how long a long poll in flight may take to return (its wait time plus
    # a margin lets it end on its own; the composition root caps it by the drain budget).
    stop_grace_s: float = 25.0
    # After a receive that brought fewer than it asked for, wait this long before the next:
    # SQS answers a receive as soon as one message is there, so at tens of messages a
    # second every receive (and its delete, and the handler's write) carried one or two.
    # Waiting lets the next receive bring what arrived meanwhile: fewer, fuller calls,
    # for at most this much latency.
    batch_window_s: float = 0.0


class SqsMetrics:
    """Declared once per registry and shared by every queue (labelled by queue)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "bridge_sqs_messages",
            "Messages handled, by queue and outcome",
            ["queue", "outcome"],
            registry=registry,
        )
        self.parked = Counter(
            "bridge_sqs_parked",
            "Messages this consumer wrote to the queue's DLQ (with a reason), by cause",
            ["queue", "cause"],
            registry=registry,
        )
        self.handler_failures = Counter(
            "bridge_sqs_handler_failures",
            "Batches whose handler raised (each message was then handled on its own)",
            ["queue"],
            registry=registry,
        )
        self.receive_errors = Counter(
            "bridge_sqs_receive_errors", "Failed ReceiveMessage calls", ["queue"], registry=registry
        )
        self.delete_failures = Counter(
            "bridge_sqs_delete_failures",
            "Messages whose delete failed (they will be redelivered)",
            ["queue"],
            registry=registry,
        )
        self.redelivered_in_flight = Counter(
            "bridge_sqs_redelivered_in_flight",
            "Messages received again while still being handled (kept once)",
            ["queue"],
            registry=registry,
        )
        self.released = Counter(
            "bridge_sqs_released_on_shutdown",
            "In-flight messages handed back at shutdown",
            ["queue"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "bridge_sqs_in_flight", "Messages being handled now", ["queue"], registry=registry
        )
        self.handle_seconds = Histogram(
            "bridge_sqs_batch_seconds",
            "Time to handle one received batch",
            ["queue"],
            registry=registry,
        )


@dataclass(slots=True)
class _InFlight:
    message: QueueMessage
    started: float
    attempts: int = 0  # handler runs that ended in RETRY, in this process
    failing_since: float | None = None


class SqsConsumer:
    def __init__(
        self,
        *,
        name: str,
        sqs: SQSClient,
        queue_url: str,
        dlq_url: str,
        handler: BatchHandler,
        metrics: SqsMetrics,
        config: SqsConsumerConfig | None = None,
        heartbeat: Heartbeat | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self._sqs = sqs
        self._queue_url = queue_url
        self._dead_letters = DeadLetterQueue(sqs=sqs, queue_url=dlq_url, clock=clock)
        self._handler = handler
        self._metrics = metrics
        self._config = config or SqsConsumerConfig()
        self._receive_max = min(self._config.batch_size, _BATCH_LIMIT)
        self._heartbeat = heartbeat
        self._clock = clock
        self._rng = rng or random.Random()
        self._error_backoff = Backoff(base_s=1.0, max_s=self._config.error_backoff_max_s)
        self._retry_backoff = Backoff(
            base_s=self._config.retry_base_s, max_s=self._config.retry_max_s
        )
        self._in_flight: dict[str, _InFlight] = {}
        self._slots = asyncio.Semaphore(self._config.max_in_flight_batches)
        self._batches: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: asyncio.TaskGroup | None = None
        self._log = log.bind(queue=name)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, then drain within the deadline and return."""
        heartbeat_stop = asyncio.Event()
        self._stop = stop
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            tasks.create_task(self._extend_visibility(heartbeat_stop), name=f"{self.name}-vis")
            try:
                await self._receive_loop(stop, tasks)
            finally:
                await self._drain()
                heartbeat_stop.set()

    async def _receive_loop(self, stop: asyncio.Event, tasks: asyncio.TaskGroup) -> None:
        errors = 0
        while not stop.is_set():
            if self._heartbeat is not None:
                self._heartbeat.beat()
            if await self._wait_for_room(stop) is STOPPED:
                return
            if await _until_stopped(self._slots.acquire(), stop) is STOPPED:
                return
            try:
                raw = await self._receive_unless_stopped(stop)
            except Exception as exc:  # noqa: BLE001  the loop must outlive any one failure
                self._slots.release()
                errors += 1
                self._metrics.receive_errors.labels(self.name).inc()
                delay = self._error_backoff.delay(errors, self._rng)
                if isinstance(exc, ClientError | BotoCoreError):
                    failure = classify(exc, service="sqs", operation="ReceiveMessage")
                    self._log.warning(
                        "sqs_receive_failed", code=failure.code, retry_in_s=round(delay, 1)
                    )
                else:
                    self._log.error("sqs_receive_failed", exc_info=exc, retry_in_s=round(delay, 1))
                await _until_stopped(asyncio.sleep(delay), stop)
                continue
            errors = 0
            if stop.is_set():
                # Returned after the stop: another worker should have these at once.
                self._slots.release()
                await self._hand_back_received(raw)
                return
            batch = self._admit(raw)
            if not batch:
                self._slots.release()
                continue
            task = tasks.create_task(self._handle(batch), name=f"{self.name}-batch")
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)
            # Short of what one receive can bring (SQS returns at most ten however large
            # the batch size): a full one is followed at once.
            if self._config.batch_window_s > 0 and len(raw) < self._receive_max:
                await _until_stopped(self._clock.sleep(self._config.batch_window_s), stop)

    async def _wait_for_room(self, stop: asyncio.Event) -> _Stopped | None:
        while len(self._in_flight) >= self._config.max_held_messages:
            self._room.clear()
            if await _until_stopped(self._room.wait(), stop) is STOPPED:
                return STOPPED
        return None

    async def _receive_unless_stopped(self, stop: asyncio.Event) -> list[Any]:
        """One long poll; on stop it may still return (within the grace), not be cut."""
        receiving = asyncio.ensure_future(self._receive())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not receiving.done():
                await asyncio.wait({receiving}, timeout=self._config.stop_grace_s)
        finally:
            stopping.cancel()
            if not receiving.done():
                self._log.warning("sqs_poll_cut_at_stop", grace_s=self._config.stop_grace_s)
                receiving.cancel()
                await asyncio.wait({receiving})
        if receiving.cancelled():
            return []
        return receiving.result()

    async def _hand_back_received(self, raw: list[Any]) -> None:
        if not raw:
            return
        now = self._clock.monotonic()
        messages = [from_sqs(item, received_at=now) for item in raw]
        await self._change_visibility(messages, 0)
        self._metrics.released.labels(self.name).inc(len(messages))
        self._log.info("sqs_handed_back_after_stop", messages=len(messages))

    async def _receive(self) -> list[Any]:
        response = await self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._receive_max,
            WaitTimeSeconds=self._config.wait_time_s,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def _admit(self, raw: list[Any]) -> list[QueueMessage]:
        now = self._clock.monotonic()
        batch = []
        for item in raw:
            message = from_sqs(item, received_at=now)
            current = self._in_flight.get(message.message_id)
            if current is not None:
                # Redelivered while we still work on it: keep one copy, with the new handle.
                current.message.receipt_handle = message.receipt_handle
                self._metrics.redelivered_in_flight.labels(self.name).inc()
                continue
            self._in_flight[message.message_id] = _InFlight(message, now)
            batch.append(message)
        self._metrics.in_flight.labels(self.name).set(len(self._in_flight))
        return batch

    async def _handle(self, batch: list[QueueMessage], *, holds_slot: bool = True) -> None:
        started = self._clock.monotonic()
        kept: set[str] = set()
        try:
            verdicts = await self._verdicts(batch)
            kept = await self._settle(batch, verdicts)
        finally:
            for message in batch:
                if message.message_id not in kept:
                    self._in_flight.pop(message.message_id, None)
            self._room.set()
            self._metrics.in_flight.labels(self.name).set(len(self._in_flight))
            took = self._clock.monotonic() - started
            self._metrics.handle_seconds.labels(self.name).observe(took)
            if holds_slot:
                self._slots.release()

    async def _verdicts(self, batch: list[QueueMessage]) -> Mapping[str, Verdict]:
        """The handler's verdicts; if it raises, each message is judged on its own."""
        try:
            return await self._handler(batch)
        except Exception as exc:  # noqa: BLE001  one classifier at the top of the unit of work
            self._metrics.handler_failures.labels(self.name).inc()
            self._log.error("sqs_handler_failed", messages=len(batch), exc_info=exc)
            if len(batch) == 1:
                failed = Verdict(Outcome.RETRY, f"handler raised {type(exc).__name__}")
                return {batch[0].message_id: failed}
        # Handlers are idempotent per message, so handling the innocent ones again is safe.
        verdicts: dict[str, Verdict] = {}
        for message in batch:
            verdicts.update(await self._verdicts([message]))
        return verdicts

    async def _settle(self, batch: list[QueueMessage], verdicts: Mapping[str, Verdict]) -> set[str]:
        """Act on the verdicts; returns the ids of the messages kept here for a retry."""
        to_delete: list[QueueMessage] = []
        kept: set[str] = set()
        for message in batch:
            verdict = verdicts.get(message.message_id) or Verdict(Outcome.RETRY, "no verdict")
            verdict = self._last_chance(message, verdict)
            self._metrics.messages.labels(self.name, verdict.outcome.value).inc()
            if verdict.outcome is Outcome.DONE:
                to_delete.append(message)
            elif verdict.outcome is Outcome.POISON:
                if await self._park(message, verdict):
                    to_delete.append(message)
            elif self._keep_for_retry(message, verdict):
                kept.add(message.message_id)
        await self._delete(to_delete)
        return kept

    def _keep_for_retry(self, message: QueueMessage, verdict: Verdict) -> bool:
        held = self._in_flight.get(message.message_id)
        if held is None or self._tasks is None:  # pragma: no cover - it was admitted
            return False
        now = self._clock.monotonic()
        held.attempts += 1
        held.failing_since = held.failing_since if held.failing_since is not None else now
        delay = self._retry_backoff.delay(held.attempts, self._rng)
        if verdict.retry_after_s is not None:
            delay = max(delay, verdict.retry_after_s)
        self._log.info(
            "sqs_message_retry",
            message_id=message.message_id,
            attempt=held.attempts,
            reason=verdict.reason,
            retry_in_s=round(delay, 1),
        )
        task = self._tasks.create_task(self._retry(held, verdict, delay), name=f"{self.name}-retry")
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)
        return True

    async def _retry(self, held: _InFlight, verdict: Verdict, delay: float) -> None:
        message = held.message
        if await _until_stopped(asyncio.sleep(delay), self._stop) is STOPPED:
            # Shutting down: another worker should take it at once.
            self._in_flight.pop(message.message_id, None)
            self._room.set()
            await self._change_visibility([message], 0)
            self._metrics.released.labels(self.name).inc()
            return
        failing_for = self._clock.monotonic() - (held.failing_since or 0.0)
        if failing_for >= self._config.max_retry_s:
            reason = f"still failing after {failing_for:.0f} s: {verdict.reason}"
            stuck = Verdict(Outcome.POISON, reason, cause="retries_exhausted")
            try:
                await self._settle([message], {message.message_id: stuck})
            finally:
                self._in_flight.pop(message.message_id, None)
                self._room.set()
            return
        await self._handle([message], holds_slot=False)

    def _last_chance(self, message: QueueMessage, verdict: Verdict) -> Verdict:
        """A retry on the last receive SQS allows becomes a park, so it keeps its reason."""
        limit = self._config.max_receives
        if verdict.outcome is not Outcome.RETRY or limit is None or message.receive_count < limit:
            return verdict
        reason = f"still failing after {message.receive_count} receives: {verdict.reason}"
        return Verdict(Outcome.POISON, reason, cause="retries_exhausted")

    async def _park(self, message: QueueMessage, verdict: Verdict) -> bool:
        reason = verdict.reason
        try:
            await self._dead_letters.park(
                message.body, reason=reason, source=self.name, cause=verdict.cause
            )
        except BridgeError as exc:
            # Not deleted, so not lost: it comes back and is parked on a later receive.
            self._log.warning(
                "sqs_park_failed", message_id=message.message_id, error=type(exc).__name__
            )
            return False
        self._metrics.parked.labels(self.name, verdict.cause).inc()
        self._log.warning(
            "sqs_message_parked",
            message_id=message.message_id,
            reason=reason,
            cause=verdict.cause,
            receive_count=message.receive_count,
        )
        return True

    async def _delete(self, messages: list[QueueMessage]) -> None:
        for chunk in _chunks(messages, _BATCH_LIMIT):
            entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
                {"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(chunk)
            ]
            try:
                response = await self._sqs.delete_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=entries,
                )
            except (ClientError, BotoCoreError) as exc:
                self._metrics.delete_failures.labels(self.name).inc(len(chunk))
                self._log.warning(
                    "sqs_delete_failed", messages=len(chunk), error=type(exc).__name__
                )
                continue
            for failed in response.get("Failed", []):
                self._metrics.delete_failures.labels(self.name).inc()
                self._log.warning(
                    "sqs_delete_entry_failed",
                    message_id=chunk[int(failed["Id"])].message_id,
                    code=failed.get("Code"),
                )

    async def _extend_visibility(self, stop: asyncio.Event) -> None:
        interval = self._config.heartbeat_interval_s
        while not stop.is_set():
            if await _until_stopped(asyncio.sleep(interval), stop) is STOPPED:
                return
            now = self._clock.monotonic()
            due = [
                f.message
                for f in self._in_flight.values()
                if now - f.started >= interval
                and now - f.message.received_at < _MAX_VISIBILITY_S - 600
            ]
            await self._change_visibility(due, self._config.visibility_timeout_s)

    async def _change_visibility(self, messages: list[QueueMessage], timeout_s: int) -> None:
        for chunk in _chunks(messages, _BATCH_LIMIT):
            entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
                {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": timeout_s}
                for i, m in enumerate(chunk)
            ]
            try:
                await self._sqs.change_message_visibility_batch(
                    QueueUrl=self._queue_url,
                    Entries=entries,
                )
            except (ClientError, BotoCoreError) as exc:
                self._log.warning(
                    "sqs_visibility_change_failed", messages=len(chunk), error=type(exc).__name__
                )

    async def _drain(self) -> None:
        pending = {t for t in self._batches if not t.done()}
        if pending:
            self._log.info("sqs_draining", batches=len(pending), messages=len(self._in_flight))
            _, pending = await asyncio.wait(pending, timeout=self._config.drain_timeout_s)
        if not pending:
            return
        unfinished = [f.message for f in self._in_flight.values()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._change_visibility(unfinished, 0)
        self._metrics.released.labels(self.name).inc(len(unfinished))
        self._log.warning("sqs_released_unfinished", messages=len(unfinished))


class _Stopped:
    """Marker: the stop event won the race."""


STOPPED = _Stopped()


async def _until_stopped(work: Coroutine[Any, Any, T], stop: asyncio.Event) -> T | _Stopped:
    """Run `work` unless `stop` is set first; then cancel it and return STOPPED."""
    worker = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({worker, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not worker.done():
            worker.cancel()
            # Wait for the cancelled work to unwind; our own cancellation still propagates.
            await asyncio.wait({worker})
    if worker.cancelled():
        return STOPPED
    return worker.result()


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
