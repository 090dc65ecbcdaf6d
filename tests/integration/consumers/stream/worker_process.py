"""One stream consumer in its own process, for the SIGKILL test.

Usage: python worker_process.py <deliveries file> <name>, with the embedded AWS in
AWS_ENDPOINT_URL and TEST_STREAM_ARN / TEST_LEASES_TABLE set. Each delivery is appended to
the file as a JSON line (flushed, so a SIGKILL loses nothing already written), after the
record waited a little in a "buffer" as it would in the bridge.
"""

import asyncio
import json
import os
import signal
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TextIO

from prometheus_client import CollectorRegistry

from service.aws import AwsClientOptions, open_clients
from service.consumers.stream.config import StreamConsumerConfig
from service.consumers.stream.consumer import StreamConsumer, make_worker_id
from service.consumers.stream.records import Ack, StreamRecord

CONFIG = StreamConsumerConfig(
    lease_duration_s=2.0,
    renew_interval_s=0.4,
    fencing_safety_s=0.6,
    scan_interval_s=0.3,
    scan_jitter_s=0.05,
    idle_poll_interval_s=0.05,
    idle_backoff_max_s=0.2,  # records come from the test process: no wake
    checkpoint_debounce_s=0.1,
    handoff_deadline_s=3.0,
    handoff_flush_deadline_s=1.0,
    drain_deadline_s=3.0,
    backoff_base_s=0.05,
    backoff_max_s=0.5,
)
HOLD_S = 0.3


class FileHandler:
    def __init__(self, out: TextIO, name: str) -> None:
        self._out = out
        self._name = name
        self._held: dict[str, list[tuple[StreamRecord, Ack]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, record: StreamRecord, ack: Ack) -> None:
        self._held.setdefault(record.shard_key, []).append((record, ack))
        task = asyncio.create_task(self._deliver_later(record, ack))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_later(self, record: StreamRecord, ack: Ack) -> None:
        await asyncio.sleep(HOLD_S)
        self._deliver(record, ack)

    def _deliver(self, record: StreamRecord, ack: Ack) -> None:
        entries = self._held.get(record.shard_key, [])
        if (record, ack) not in entries:
            return  # dropped: the shard was lost or handed over
        entries.remove((record, ack))
        line = {"worker": self._name, "message_id": record.keys["message_id"]["S"]}
        self._out.write(json.dumps(line) + "\n")
        self._out.flush()
        ack.delivered()

    async def flush_shard(self, shard_key: str) -> None:
        for record, ack in list(self._held.get(shard_key, [])):
            self._deliver(record, ack)

    async def drop_shard(self, shard_key: str) -> None:
        self._held.pop(shard_key, None)

    async def flush_all(self) -> None:
        for shard_key in list(self._held):
            await self.flush_shard(shard_key)


class NoDeadLetters:
    async def park(self, record: StreamRecord, *, reason: str) -> None:
        raise RuntimeError(f"unexpected poison record {record.sequence_number}: {reason}")


async def main(out: TextIO, name: str) -> None:
    async with AsyncExitStack() as stack:
        clients = await open_clients(stack, AwsClientOptions(max_attempts=2))
        consumer = StreamConsumer(
            config=CONFIG,
            stream_arn=os.environ["TEST_STREAM_ARN"],
            dynamodb=clients.dynamodb,
            leases_table=os.environ["TEST_LEASES_TABLE"],
            streams=clients.streams,
            handler=FileHandler(out, name),
            dead_letters=NoDeadLetters(),
            registry=CollectorRegistry(),
            worker_id=make_worker_id(name),
        )
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, consumer.request_stop)
        await consumer.run()


if __name__ == "__main__":
    with Path(sys.argv[1]).open("a", encoding="utf-8") as deliveries:
        asyncio.run(main(deliveries, sys.argv[2]))
