"""Test doubles for the stream consumer's two ports: the record handler and the dead letters.

`ScriptedHandler` behaves like the bridge's buffer at the interface: it records every
record, acknowledges at once, on flush, or when the test says so, can block `submit` for
backpressure, and forgets a shard's unacknowledged records on `drop_shard`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from service.consumers.stream.records import Ack, StreamRecord


def message_id(record: StreamRecord) -> str:
    return str(record.keys["message_id"]["S"])


def customer(record: StreamRecord) -> str:
    return str(record.keys["customer"]["S"])


@dataclass
class Delivery:
    worker: str
    shard_key: str
    sequence_number: str
    message_id: str
    customer: str
    # Bumped each time the worker lets go of the shard: deliveries in different epochs are
    # on different leases, even when the same worker took the shard back.
    epoch: int = 0


@dataclass
class ScriptedHandler:
    name: str = "worker"
    # "now": ack in submit; "flush": ack on flush_shard/flush_all; "manual": the test acks.
    mode: str = "now"
    # Shared across workers so a test sees every delivery in order.
    deliveries: list[Delivery] = field(default_factory=list)
    submitted: list[StreamRecord] = field(default_factory=list)
    pending: dict[str, list[tuple[StreamRecord, Ack]]] = field(default_factory=dict)
    flushed_shards: list[str] = field(default_factory=list)
    dropped_shards: list[str] = field(default_factory=list)
    flush_all_calls: int = 0
    epochs: dict[str, int] = field(default_factory=dict)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: int = 0  # submits blocked on the closed gate
    # A record for which this returns True makes `submit` raise (a poison record).
    poison: Callable[[StreamRecord], bool] = lambda _record: False
    # Called for every delivery (after ack); a test can slow deliveries down here.
    deliver_delay_s: float = 0.0
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.gate.set()

    async def submit(self, record: StreamRecord, ack: Ack) -> None:
        self.waiting += 1
        try:
            await self.gate.wait()
        finally:
            self.waiting -= 1
        if self.poison(record):
            raise ValueError("unparseable message")
        self.submitted.append(record)
        if self.mode == "now":
            self._deliver(record, ack)
        else:
            self.pending.setdefault(record.shard_key, []).append((record, ack))

    async def flush_shard(self, shard_key: str) -> None:
        self.flushed_shards.append(shard_key)
        if self.mode == "flush":
            await self._deliver_shard(shard_key)

    async def drop_shard(self, shard_key: str) -> None:
        self.dropped_shards.append(shard_key)
        self.pending.pop(shard_key, None)
        self.epochs[shard_key] = self.epochs.get(shard_key, 0) + 1

    async def flush_all(self) -> None:
        self.flush_all_calls += 1
        if self.mode == "flush":
            for shard_key in list(self.pending):
                await self._deliver_shard(shard_key)

    def ack_all(self, *, shard_key: str | None = None) -> None:
        for key in list(self.pending):
            if shard_key is None or key == shard_key:
                for record, ack in self.pending.pop(key):
                    self._deliver(record, ack)

    def ack_where(self, predicate: Callable[[StreamRecord], bool]) -> int:
        count = 0
        for key, entries in list(self.pending.items()):
            keep = []
            for record, ack in entries:
                if predicate(record):
                    self._deliver(record, ack)
                    count += 1
                else:
                    keep.append((record, ack))
            self.pending[key] = keep
        return count

    def pending_count(self) -> int:
        return sum(len(entries) for entries in self.pending.values())

    async def _deliver_shard(self, shard_key: str) -> None:
        for record, ack in self.pending.pop(shard_key, []):
            if self.deliver_delay_s:
                await asyncio.sleep(self.deliver_delay_s)
            self._deliver(record, ack)

    def _deliver(self, record: StreamRecord, ack: Ack) -> None:
        self.deliveries.append(
            Delivery(
                worker=self.name,
                shard_key=record.shard_key,
                sequence_number=record.sequence_number,
                message_id=message_id(record),
                customer=customer(record),
                epoch=self.epochs.get(record.shard_key, 0),
            )
        )
        ack.delivered()


@dataclass
class ListDeadLetters:
    parked: list[tuple[StreamRecord, str]] = field(default_factory=list)
    failures_left: int = 0

    async def park(self, record: StreamRecord, *, reason: str) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("dead-letter queue unreachable")
        self.parked.append((record, reason))
