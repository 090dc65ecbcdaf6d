"""Soak: 3 workers, 8 shards with lineage, 10,000 records, random SIGKILLs and restarts.

Every record must be acknowledged at least once, none lost; a record is delivered twice
only across a lease change (never twice by one worker); no checkpoint ever moves backwards.
"""

import asyncio
import dataclasses
import random
from collections import defaultdict

import pytest

from service.consumers.stream.leases import SHARD_END, TRIM_HORIZON
from tests.fakes.stream_cluster import FAST, Cluster, Worker
from tests.support.waiting import eventually

RECORDS = 10_000
CUSTOMERS = 200
# Three workers, moto and the producer share two cores: leases get a realistic margin over
# the latency of the lease table under that load (the ratios of the production defaults).
SOAK = dataclasses.replace(
    FAST,
    lease_duration_s=3.0,
    renew_interval_s=0.5,
    fencing_safety_s=1.0,
    scan_interval_s=0.5,
    checkpoint_debounce_s=0.2,
    handoff_deadline_s=3.0,
)


def position(checkpoint: str) -> int:
    if checkpoint == TRIM_HORIZON:
        return -1
    if checkpoint == SHARD_END:
        return 10**41
    return int(checkpoint)


class Soak:
    def __init__(self, cluster: Cluster, rng: random.Random) -> None:
        self.cluster = cluster
        self.rng = rng
        self.slots: list[Worker | None] = [None, None, None]
        self.generation = 0
        self.kills = 0
        self.stops = 0
        self.backwards: list[str] = []
        self.acker_tasks: set[asyncio.Task[None]] = set()

    def start(self, slot: int) -> None:
        self.generation += 1
        worker = self.cluster.start(f"w{slot}-{self.generation}", mode="manual", config=SOAK)
        self.slots[slot] = worker
        task = asyncio.create_task(self._acker(worker))
        self.acker_tasks.add(task)

    async def _acker(self, worker: Worker) -> None:
        # The buffer: records wait a little, then are delivered (acknowledged) together.
        while worker.task is not None and not worker.task.done():
            worker.handler.ack_all()
            await asyncio.sleep(0.03)

    async def chaos(self, rounds: int) -> None:
        for _ in range(rounds):
            await asyncio.sleep(self.rng.uniform(0.8, 1.6))
            slot = self.rng.randrange(3)
            worker = self.slots[slot]
            assert worker is not None
            if self.rng.random() < 0.6:
                await worker.kill()
                self.kills += 1
            else:
                await worker.stop()
                self.stops += 1
            await asyncio.sleep(self.rng.uniform(0.0, 0.5))
            self.start(slot)

    async def watch_checkpoints(self) -> None:
        seen: dict[str, int] = {}
        while True:
            for lease in (await self.cluster.leases()).values():
                now = position(lease.checkpoint)
                if now < seen.get(lease.key, -1):
                    self.backwards.append(lease.key)
                seen[lease.key] = now
            await asyncio.sleep(0.1)


async def produce(cluster: Cluster, rng: random.Random) -> set[str]:
    streams = cluster.streams
    open_shards = [streams.add_shard() for _ in range(8)]
    written: set[str] = set()
    for n in range(RECORDS):
        customer = rng.randrange(CUSTOMERS)
        shard = open_shards[customer % len(open_shards)]
        message = f"m{n}"
        streams.put(shard, customer=f"c{customer}", message_id=message)
        written.add(message)
        if n % 50 == 49:
            await asyncio.sleep(0.05)
        if n % 1500 == 1499:
            # Rollover (lineage): the customer's next messages land in the child.
            index = rng.randrange(len(open_shards))
            open_shards[index] = streams.rollover(open_shards[index])
    return written


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_soak_three_workers_eight_shards_random_kills_lose_nothing(cluster):
    rng = random.Random(20260301)
    soak = Soak(cluster, rng)
    for slot in range(3):
        soak.start(slot)
    watcher = asyncio.create_task(soak.watch_checkpoints())
    producing = asyncio.create_task(produce(cluster, rng))
    await soak.chaos(rounds=8)
    written = await producing
    await eventually(lambda: set(cluster.delivered_ids()) >= written, timeout_s=90)
    watcher.cancel()
    for task in soak.acker_tasks:
        task.cancel()

    by_message: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for delivery in cluster.deliveries:
        by_message[delivery.message_id].append((delivery.worker, delivery.epoch))
    assert set(by_message) == written  # every record, and nothing invented
    # Duplicates only across a lease change: never twice within one worker's hold of a lease.
    repeated_within_a_lease = [
        m for m, holds in by_message.items() if len(set(holds)) != len(holds)
    ]
    assert repeated_within_a_lease == []
    assert soak.backwards == []
    assert soak.kills >= 1
    duplicates = sum(len(holds) - 1 for holds in by_message.values())
    fenced = sum(
        w.metric("bridge_stream_lease_lost_total", {"reason": "fenced"}) for w in cluster.workers
    )
    print(f"soak: kills={soak.kills} stops={soak.stops} duplicates={duplicates} fenced={fenced}")
