"""Several stream consumers on one event loop, each with its own handler and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from service.consumers.stream.config import StreamConsumerConfig
from service.consumers.stream.consumer import StreamConsumer
from service.consumers.stream.leases import Lease, LeaseStore
from tests.fakes.stream_handler import Delivery, ListDeadLetters, ScriptedHandler
from tests.fakes.streams import FakeStreams

# Short durations so takeovers happen in about two seconds of real time. Not shorter: a
# worker fences itself when renewals have not landed for lease - safety (1.5 s), and on a
# loaded 2-core CI machine a moto round trip in this process can take most of a second.
FAST = StreamConsumerConfig(
    lease_duration_s=2.0,
    renew_interval_s=0.2,
    fencing_safety_s=0.5,
    scan_interval_s=0.2,
    scan_jitter_s=0.05,
    idle_poll_interval_s=0.02,
    idle_backoff_max_s=0.1,  # these tests write from outside the workers: no wake
    checkpoint_debounce_s=0.05,
    handoff_deadline_s=2.0,
    handoff_flush_deadline_s=1.0,
    drain_deadline_s=2.0,
    backoff_base_s=0.01,
    backoff_max_s=0.1,
)

# For tests of reading, checkpointing and resuming, not of fencing: FAST's lease is valid
# for 1.5 s, and with the suite's other worker and a Docker build on the same two cores the
# embedded AWS has answered lease writes later than that; the worker then rightly fenced
# itself (lease not released at a stop; a 2.5 s pause in a checkpoint-lag test).
LONG_LEASE = dataclasses.replace(FAST, lease_duration_s=10.0, fencing_safety_s=2.0)


@dataclass
class Worker:
    consumer: StreamConsumer
    handler: ScriptedHandler
    dead_letters: ListDeadLetters
    registry: CollectorRegistry
    task: asyncio.Task[None] | None = None

    @property
    def id(self) -> str:
        return self.consumer.worker_id

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.registry.get_sample_value(name, labels or {}) or 0.0

    async def stop(self) -> None:
        """SIGTERM: graceful shutdown."""
        assert self.task is not None
        self.consumer.request_stop()
        await self.task

    async def kill(self) -> None:
        """SIGKILL, as far as the lease table can tell: no release, no checkpoint, no flush."""
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@dataclass
class Cluster:
    streams: FakeStreams
    store: LeaseStore
    make: Callable[..., Worker]
    deliveries: list[Delivery] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)

    def start(self, name: str, **kwargs: Any) -> Worker:
        worker = self.make(name, self.deliveries, **kwargs)
        worker.task = asyncio.create_task(worker.consumer.run(), name=f"consumer-{name}")
        self.workers.append(worker)
        return worker

    async def leases(self) -> dict[str, Lease]:
        return {lease.shard_id: lease for lease in await self.store.list_leases(self.streams.label)}

    def delivered_ids(self) -> list[str]:
        return [delivery.message_id for delivery in self.deliveries]
