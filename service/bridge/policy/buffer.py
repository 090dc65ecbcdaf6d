"""Per-customer buffering of stream records into bursts (DESIGN.md §5 and §7).

Customers type in bursts; the buffer holds each customer's messages until the customer has
been quiet for `quiet_s`, the burst is `max_wait_s` old, it reached `max_burst_messages`,
or a flush is forced, then hands the whole burst to `deliver`. Records are acknowledged
only once their burst was delivered or parked, so the shard checkpoint never passes a
message that has not reached the agent.

A buffered customer costs little while they wait (a 10,000-customer queue of people
waiting for an agent is normal): no task and no events of their own. One timer heap, served
by one task, holds when each waiting customer's burst is next due; only a customer whose
burst is being delivered has a task. That task is what keeps a single delivery in flight
per customer: it delivers inline, and messages arriving meanwhile start the next burst
without being handed over. Entries keep the stream record (its image is held until the
record is acknowledged anyway: parking writes it to the dead-letter queue), not the decoded
message: the burst is decoded again when it leaves, ~11 us a message against ~4 KB of
parsed model kept per waiting message.
"""

import asyncio
import heapq
import itertools
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Generic, Protocol, TypedDict, TypeVar

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from service.backoff import Backoff
from service.bridge.events.transport import Acknowledgement, StreamItem
from service.bridge.policy.owned_tasks import OwnedTasks
from service.clock import SYSTEM_CLOCK, Clock
from service.errors import BridgeError, ThrottledError, is_retryable

log = structlog.get_logger(__name__)

_BURST_SIZE_BUCKETS: Final = (1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50, 75, 100)
_LATENCY_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)


class BufferedMessage(Protocol):
    """What the buffer needs to know of a decoded message."""

    @property
    def customer_key(self) -> str: ...

    @property
    def message_id(self) -> str: ...

    @property
    def order_key(self) -> tuple[int, int]:
        """(WhatsApp timestamp, finer publication time): the order of the customer's sends."""
        ...


M = TypeVar("M", bound=BufferedMessage)


class FlushReason(StrEnum):
    QUIET = "quiet"
    MAX_WAIT = "max_wait"
    SIZE = "size"
    FORCED = "forced"
    SHUTDOWN = "shutdown"


class BufferNotRunningError(RuntimeError):
    """`submit` was called before `run` started or after it ended."""


class BufferSnapshot(TypedDict):
    customer_key: str
    messages: int  # buffered: waiting for the next burst plus the burst being delivered
    age_s: float  # since the oldest buffered message arrived
    quiet_s: float  # since the newest buffered message arrived
    in_flight: int  # messages of the burst being delivered (0: none)
    attempts: int  # delivery attempts of the burst in flight so far
    next_flush_in_s: float | None  # None: nothing waits for a burst


@dataclass(frozen=True, slots=True)
class BufferConfig:
    quiet_s: float = 5.0
    max_wait_s: float = 20.0
    # The delivery ledger writes one DynamoDB transaction (at most 100 items) per burst.
    max_burst_messages: int = 50
    max_customers: int = 10_000
    max_messages: int = 50_000
    retry_base_s: float = 1.0
    retry_max_s: float = 60.0
    max_attempts: int = 8
    max_retry_s: float = 15 * 60.0

    def __post_init__(self) -> None:
        if min(self.max_burst_messages, self.max_customers, self.max_messages) < 1:
            raise ValueError("buffer limits must be at least 1")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


class BufferMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.customers = Gauge(
            "bridge_buffer_customers",
            "Customers with buffered messages (waiting or being delivered).",
            registry=registry,
        )
        self.messages = Gauge(
            "bridge_buffer_messages",
            "Messages held by the buffer (waiting or being delivered).",
            registry=registry,
        )
        self.bursts_delivered = Counter(
            "bridge_bursts_delivered", "Bursts handed to Connect successfully.", registry=registry
        )
        self.burst_messages = Histogram(
            "bridge_burst_messages",
            "Messages per delivered burst.",
            buckets=_BURST_SIZE_BUCKETS,
            registry=registry,
        )
        self.flushes = Counter(
            "bridge_flushes",
            "Bursts handed over for delivery, by what triggered them.",
            ["reason"],
            registry=registry,
        )
        self.burst_latency = Histogram(
            "bridge_burst_latency_seconds",
            "From the burst's last message arriving at the buffer to its delivery.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.retries = Counter(
            "bridge_delivery_retries", "Failed burst deliveries retried.", registry=registry
        )
        self.parked = Counter(
            "bridge_records_parked", "Records written to the dead-letter queue.", registry=registry
        )
        for reason in FlushReason:
            self.flushes.labels(reason.value)


class _Waiter:
    """Counts down the entries a flush waits for."""

    __slots__ = ("done", "remaining")

    def __init__(self, remaining: int) -> None:
        self.remaining = remaining
        self.done = asyncio.Event()
        if remaining == 0:
            self.done.set()

    def release_one(self) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            self.done.set()


@dataclass(slots=True, eq=False)
class _Entry:
    record: StreamItem
    ack: Acknowledgement
    # (message order key, arrival here): the order of the burst handed to `deliver`.
    order: tuple[int, int, int]
    arrived_at: float
    dropped: bool = False  # its shard went to another worker while it was in flight
    released: bool = False
    waiters: list[_Waiter] | None = None  # flushes waiting for it; rare, so no list each

    @property
    def arrival(self) -> int:
        return self.order[2]


@dataclass(slots=True, eq=False)
class _Customer:
    key: str
    pending: list[_Entry] = field(default_factory=list)  # arrival order
    in_flight: list[_Entry] = field(default_factory=list)
    attempts: int = 0
    # Pending entries that arrived at or before this mark are due now (a forced flush).
    force_mark: int = -1
    force_reason: FlushReason = FlushReason.FORCED
    # Only while a burst of theirs is being delivered: the task doing it, and the event
    # that cuts a retry backoff short.
    task: asyncio.Task[None] | None = None
    hurry: asyncio.Event | None = None
    # When the timer heap looks at this customer next; None while not in the heap.
    timer_at: float | None = None

    def held(self) -> Iterable[_Entry]:
        return itertools.chain(self.in_flight, self.pending)


class CustomerBuffer(Generic[M]):
    """The stream consumer's record handler: per-customer bursts, acks after delivery."""

    def __init__(
        self,
        *,
        decode: Callable[[StreamItem], M],
        # Receives one customer's burst, ordered by (message order key, arrival here).
        deliver: Callable[[Sequence[M]], Awaitable[None]],
        registry: CollectorRegistry,
        # Told of messages parked after failed deliveries (the customer sees a ❌).
        on_parked: Callable[[Sequence[M]], Awaitable[None]] | None = None,
        config: BufferConfig | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self._decode = decode
        self._deliver = deliver
        self._on_parked = on_parked
        self._config = config or BufferConfig()
        self._clock = clock
        self._backoff = Backoff(base_s=self._config.retry_base_s, max_s=self._config.retry_max_s)
        self._rng = rng or random.Random()
        self._metrics = BufferMetrics(registry)
        self._customers: dict[str, _Customer] = {}
        # (when, tie-break, customer): when each waiting customer's burst may be due. An
        # entry whose time is not the customer's `timer_at` is stale and skipped.
        self._timers: list[tuple[float, int, _Customer]] = []
        self._timer_numbers = itertools.count()
        self._timers_changed = asyncio.Event()
        self._timer_task: asyncio.Task[None] | None = None
        self._held = 0
        self._arrivals = 0  # numbers entries in the order they reached the buffer
        self._room = asyncio.Event()  # set whenever space may have freed up
        self._life = OwnedTasks(
            not_running=lambda: BufferNotRunningError("the buffer is not running"),
            on_close=self._room.set,
        )
        # Set once `run` accepts records: start the stream consumer only after it.
        self.running = self._life.running

    # ------------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event) -> None:
        # The stream consumer's shutdown flushes; records it did not wait for are left
        # unacknowledged and re-read by the shard's next owner.
        def closing() -> None:
            if self._customers:
                log.warning(
                    "buffer_closed_with_records",
                    customers=len(self._customers),
                    messages=self._held,
                )

        await self._life.run(
            stop,
            lambda: [self._timer_task, *(c.task for c in self._customers.values())],
            closing=closing,
        )

    # ------------------------------------------------------------------ StreamRecordHandler

    async def submit(self, record: StreamItem, ack: Acknowledgement) -> None:
        self._check_running()
        try:
            message = self._decode(record)
        except ValueError as exc:
            log.warning("record_undecodable", shard_id=record.shard_id, error=type(exc).__name__)
            await self._park([(record, ack)], reason=f"undecodable: {type(exc).__name__}")
            return
        except Exception as exc:
            log.exception("record_decode_crashed", shard_id=record.shard_id)
            await self._park([(record, ack)], reason=f"decode raised {type(exc).__name__}")
            return
        await self.add(record, ack, message)

    async def add(self, record: StreamItem, ack: Acknowledgement, message: M) -> None:
        """Take a decoded message; waits while the buffer is full (backpressure)."""
        self._check_running()
        key = message.customer_key
        while True:
            self._check_running()
            if self._has_room(key):
                break
            # Backpressure: the stream reader waits here, so the shard is read no faster
            # than deliveries free space.
            self._room.clear()
            await self._room.wait()
        customer = self._customers.get(key)
        if customer is None:
            customer = self._start_customer(key)
        self._arrivals += 1
        entry = _Entry(
            record=record,
            ack=ack,
            order=(*message.order_key, self._arrivals),
            arrived_at=self._clock.monotonic(),
        )
        customer.pending.append(entry)
        self._held += 1
        self._update_gauges()
        self._schedule(customer)

    async def flush_shard(self, shard_key: str) -> None:
        entries: list[_Entry] = []
        for customer in list(self._customers.values()):
            mine = [e for e in customer.held() if e.record.shard_key == shard_key]
            if mine:
                entries.extend(mine)
                self._force(customer, FlushReason.FORCED)
        await self._wait_released(entries)

    async def drop_shard(self, shard_key: str) -> None:
        dropped = 0
        for customer in list(self._customers.values()):
            keep = [e for e in customer.pending if e.record.shard_key != shard_key]
            if len(keep) < len(customer.pending):
                for entry in customer.pending:
                    if entry.record.shard_key == shard_key:
                        self._release(entry)
                dropped += len(customer.pending) - len(keep)
                customer.pending = keep
                self._schedule(customer)  # its timers changed, or nothing is left to wait for
            for entry in customer.in_flight:
                if entry.record.shard_key == shard_key:
                    entry.dropped = True
            if customer.in_flight and all(e.dropped for e in customer.in_flight):
                self._hurry(customer)  # stop retrying a burst nobody here owns any more
        if dropped:
            log.info("buffer_shard_dropped", shard_key=shard_key, messages=dropped)
        self._update_gauges()

    async def flush_all(self) -> None:
        try:
            entries: list[_Entry] = []
            for customer in list(self._customers.values()):
                entries.extend(customer.held())
                self._force(customer, FlushReason.SHUTDOWN)
            await self._wait_released(entries)
        finally:
            # Also when the caller's deadline cancels the flush: the shutdown is over
            # either way, and `run` may end.
            self._life.flushed()

    # ------------------------------------------------------------------ admin

    async def flush_customer(self, customer_key: str) -> bool:
        """Deliver this customer's buffer now; False when nothing is buffered for them."""
        customer = self._customers.get(customer_key)
        if customer is None:
            return False
        entries = list(customer.held())
        self._force(customer, FlushReason.FORCED)
        await self._wait_released(entries)
        return True

    def snapshot(self) -> list[BufferSnapshot]:
        now = self._clock.monotonic()
        rows: list[BufferSnapshot] = []
        for customer in self._customers.values():
            held = list(customer.held())
            if not held:
                continue
            arrivals = [e.arrived_at for e in held]
            due = self._due(customer, now)
            rows.append(
                BufferSnapshot(
                    customer_key=customer.key,
                    messages=len(held),
                    age_s=max(0.0, now - min(arrivals)),
                    quiet_s=max(0.0, now - max(arrivals)),
                    in_flight=len(customer.in_flight),
                    attempts=customer.attempts,
                    next_flush_in_s=None if due is None else max(0.0, due[1] - now),
                )
            )
        return rows

    # ------------------------------------------------------------------ timers and deliveries

    def _start_customer(self, key: str) -> _Customer:
        customer = _Customer(key=key)
        self._customers[key] = customer
        return customer

    def _schedule(self, customer: _Customer) -> None:
        """After any change to a customer's buffer: deliver now if a burst is due, else
        have the timer heap look at them when one may be."""
        if customer.task is not None:
            return  # their delivery task looks at what is pending once it is done
        due = self._due(customer, self._clock.monotonic())
        if due is None:
            self._forget(customer)
            return
        reason, at = due
        if reason is not None:
            customer.timer_at = None
            customer.task = self._life.start(self._serve(customer), name="buffer-customer")
            return
        # Due times only move later as messages arrive (the quiet window restarts), so an
        # earlier heap entry is kept and looked at again when it comes up: one entry per
        # customer, not one per message.
        if customer.timer_at is None or at < customer.timer_at:
            customer.timer_at = at
            heapq.heappush(self._timers, (at, next(self._timer_numbers), customer))
            if self._timers[0][2] is customer:
                self._timers_changed.set()
            if self._timer_task is None:
                self._timer_task = self._life.start(self._run_timers(), name="buffer-timers")

    async def _run_timers(self) -> None:
        timers = self._timers
        while True:
            self._timers_changed.clear()
            now = self._clock.monotonic()
            while timers and timers[0][0] <= now:
                at, _, customer = heapq.heappop(timers)
                if customer.timer_at != at or self._customers.get(customer.key) is not customer:
                    continue  # stale: rescheduled, delivering, or forgotten since
                customer.timer_at = None
                try:
                    self._schedule(customer)
                except BufferNotRunningError:
                    return  # closing: what is left stays unacknowledged
            if timers:
                await self._clock.wait(self._timers_changed, timers[0][0])
            else:
                await self._timers_changed.wait()

    async def _serve(self, customer: _Customer) -> None:
        """Deliver the customer's due bursts, one at a time, then hand them back to the
        timers (or forget them when nothing is left)."""
        try:
            while (due := self._due(customer, self._clock.monotonic())) is not None:
                reason = due[0]
                if reason is None:
                    break
                await self._deliver_burst(customer, self._take_burst(customer), reason)
        except Exception:
            # A bug here must not end the TaskGroup (and every other customer): forget this
            # customer's records unacknowledged, so they are re-read after a restart.
            log.exception("buffer_customer_failed", customer=customer.key)
            customer.task = None
            self._forget(customer)
            return
        except BaseException:
            customer.task = None
            self._forget(customer)
            raise
        customer.task = None
        try:
            self._schedule(customer)
        except BufferNotRunningError:
            self._forget(customer)

    def _due(self, customer: _Customer, now: float) -> tuple[FlushReason | None, float] | None:
        """Why the pending burst is due now (and since when), or when it will be."""
        pending = customer.pending
        if not pending:
            return None
        config = self._config
        if pending[0].arrival <= customer.force_mark:
            return customer.force_reason, now
        if len(pending) >= config.max_burst_messages:
            return FlushReason.SIZE, now
        max_wait_at = pending[0].arrived_at + config.max_wait_s
        quiet_at = pending[-1].arrived_at + config.quiet_s
        if now >= max_wait_at:
            return FlushReason.MAX_WAIT, max_wait_at
        if now >= quiet_at:
            return FlushReason.QUIET, quiet_at
        return None, min(max_wait_at, quiet_at)

    def _take_burst(self, customer: _Customer) -> list[_Entry]:
        ordered = sorted(customer.pending, key=lambda e: e.order)
        burst = ordered[: self._config.max_burst_messages]
        rest = ordered[self._config.max_burst_messages :]
        customer.pending = sorted(rest, key=lambda e: e.arrival)
        return burst

    async def _deliver_burst(
        self, customer: _Customer, entries: list[_Entry], reason: FlushReason
    ) -> None:
        self._metrics.flushes.labels(reason.value).inc()
        customer.in_flight = entries
        customer.attempts = 0
        hurry = customer.hurry = asyncio.Event()
        started = self._clock.monotonic()
        try:
            try:
                burst = tuple(self._decode(e.record) for e in entries)
            except Exception as exc:  # noqa: BLE001  it decoded when it arrived: a bug
                await self._park_burst(customer, entries, exc, ())
                return
            while not all(e.dropped for e in entries):
                customer.attempts += 1
                try:
                    await self._deliver(burst)
                except Exception as exc:  # noqa: BLE001  retried or parked, never lost
                    delay = self._retry_delay(exc, attempts=customer.attempts, started=started)
                    if delay is None:
                        await self._park_burst(customer, entries, exc, burst)
                        return
                    self._log_retry(customer, exc, delay)
                    await self._clock.wait(hurry, self._clock.monotonic() + delay)
                    hurry.clear()
                    continue
                self._delivered(customer, entries, reason)
                return
            # Every record went to another worker while we backed off: it delivers them.
            log.info("burst_abandoned", customer=customer.key, messages=len(entries))
        finally:
            for entry in entries:
                self._release(entry)
            customer.in_flight = []
            customer.attempts = 0
            customer.hurry = None
            self._update_gauges()

    def _retry_delay(self, exc: Exception, *, attempts: int, started: float) -> float | None:
        """Seconds before the next attempt, or None to park the burst."""
        config = self._config
        remaining = started + config.max_retry_s - self._clock.monotonic()
        if not is_retryable(exc) or attempts >= config.max_attempts or remaining <= 0:
            return None
        delay = self._backoff.delay(attempts, self._rng)
        if isinstance(exc, ThrottledError) and exc.retry_after_s is not None:
            delay = max(delay, exc.retry_after_s)
        return min(delay, remaining)

    def _log_retry(self, customer: _Customer, exc: Exception, delay: float) -> None:
        self._metrics.retries.inc()
        fields = {
            "customer": customer.key,
            "attempt": customer.attempts,
            "delay_s": round(delay, 3),
            "error": type(exc).__name__,
        }
        if isinstance(exc, BridgeError):
            log.warning("burst_retry", **fields)
        else:
            # Not one of the bridge's translated errors: a bug or an unforeseen failure,
            # whose traceback is the only clue.
            log.error("burst_retry", exc_info=exc, **fields)

    def _delivered(self, customer: _Customer, entries: list[_Entry], reason: FlushReason) -> None:
        for entry in entries:
            entry.ack.delivered()
        latency = max(0.0, self._clock.monotonic() - max(e.arrived_at for e in entries))
        self._metrics.bursts_delivered.inc()
        self._metrics.burst_messages.observe(len(entries))
        self._metrics.burst_latency.observe(latency)
        log.info(
            "burst_delivered",
            customer=customer.key,
            messages=len(entries),
            attempts=customer.attempts,
            reason=reason.value,
            latency_s=round(latency, 3),
        )

    async def _park_burst(
        self, customer: _Customer, entries: list[_Entry], exc: Exception, burst: Sequence[M]
    ) -> None:
        permanent = not is_retryable(exc)
        reason = (
            f"permanent delivery error: {type(exc).__name__}"
            if permanent
            else f"delivery failed {customer.attempts} times: {type(exc).__name__}"
        )
        log.error(
            "burst_parked",
            customer=customer.key,
            messages=len(entries),
            attempts=customer.attempts,
            permanent=permanent,
            error=type(exc).__name__,
        )
        await self._park([(e.record, e.ack) for e in entries], reason=reason)
        if self._on_parked is not None and burst:
            try:
                await self._on_parked(burst)
            except Exception:
                log.exception("buffer_on_parked_failed", customer=customer.key)

    async def _park(
        self, entries: Sequence[tuple[StreamItem, Acknowledgement]], *, reason: str
    ) -> None:
        # Each ack writes its record to the dead-letter queue before the checkpoint may
        # pass it.
        for record, ack in entries:
            try:
                await ack.park(reason)
            except Exception:
                # Unacknowledged, the checkpoint stays before this record, so the shard's
                # next reading (after a restart or handoff) tries it again.
                log.exception(
                    "record_park_failed",
                    shard_id=record.shard_id,
                    sequence_number=record.sequence_number,
                )
                continue
            self._metrics.parked.inc()

    # ------------------------------------------------------------------ bookkeeping

    def _check_running(self) -> None:
        self._life.check_running()

    def _has_room(self, key: str) -> bool:
        if self._held >= self._config.max_messages:
            return False
        return key in self._customers or len(self._customers) < self._config.max_customers

    def _force(self, customer: _Customer, reason: FlushReason) -> None:
        customer.force_reason = reason
        customer.force_mark = self._arrivals
        self._hurry(customer)
        self._schedule(customer)

    @staticmethod
    def _hurry(customer: _Customer) -> None:
        if customer.hurry is not None:
            customer.hurry.set()

    async def _wait_released(self, entries: list[_Entry]) -> None:
        pending = [e for e in entries if not e.released]
        waiter = _Waiter(len(pending))
        for entry in pending:
            if entry.waiters is None:
                entry.waiters = []
            entry.waiters.append(waiter)
        await waiter.done.wait()

    def _release(self, entry: _Entry) -> None:
        if entry.released:
            return
        entry.released = True
        self._held -= 1
        for waiter in entry.waiters or ():
            waiter.release_one()
        entry.waiters = None
        self._room.set()

    def _forget(self, customer: _Customer) -> None:
        for entry in list(customer.held()):
            self._release(entry)
        customer.pending = []
        customer.in_flight = []
        customer.timer_at = None
        if self._customers.get(customer.key) is customer:
            del self._customers[customer.key]
        self._room.set()
        self._update_gauges()

    def _update_gauges(self) -> None:
        self._metrics.customers.set(len(self._customers))
        self._metrics.messages.set(self._held)
