"""The buffer behind the real stream consumer, on the embedded AWS's raw-messages stream.

Shows the contract between the two end to end: raw items written by the production writer
come back as bursts per customer, the checkpoint passes them only once delivered, and a
graceful stop flushes what is still buffered before the lease is released.
"""

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from service.bridge.adapters.raw_messages import RawMessageWriter, decode_message
from service.bridge.events.eum import parse_eum_event
from service.bridge.events.transport import StreamItem
from service.bridge.events.whatsapp import InboundMessage
from service.bridge.policy.buffer import BufferConfig, CustomerBuffer
from service.consumers.stream.consumer import StreamConsumer, make_worker_id
from tests.fakes.stream_cluster import FAST
from tests.fakes.stream_handler import ListDeadLetters
from tests.support.eum import eum_event, text, wamid
from tests.support.waiting import eventually

ANA = "5215512345678"
BEN = "5215587654321"


def decode(record: StreamItem) -> InboundMessage:
    return decode_message(record.new_image)


@dataclass
class Running:
    buffer: CustomerBuffer[InboundMessage]
    consumer: StreamConsumer
    bursts: list[list[str]]


@asynccontextmanager
async def bridge(aws_clients, resources, config: BufferConfig) -> AsyncIterator[Running]:
    """Buffer and consumer in one TaskGroup, stopped the way the service stops them."""
    bursts: list[list[str]] = []

    async def deliver(burst: Sequence[InboundMessage]) -> None:
        bursts.append([m.message_id for m in burst])

    dead_letters = ListDeadLetters()
    registry = CollectorRegistry()
    buffer = CustomerBuffer[InboundMessage](
        decode=decode,
        deliver=deliver,
        registry=registry,
        config=config,
    )
    consumer = StreamConsumer(
        config=FAST,
        stream_arn=resources.created.stream_arn,
        dynamodb=aws_clients.dynamodb,
        leases_table=resources.names.leases_table,
        streams=aws_clients.streams,
        handler=buffer,
        dead_letters=dead_letters,
        registry=registry,
        worker_id=make_worker_id("task-1"),
    )
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(buffer.run(stop))
        tasks.create_task(consumer.run())
        try:
            yield Running(buffer, consumer, bursts)
        finally:
            stop.set()
            consumer.request_stop()


async def write(aws_clients, resources, wa_id: str, *messages: tuple[str, int]) -> list[str]:
    """Write each (message id, WhatsApp timestamp) as its own raw item, in this order."""
    writer = RawMessageWriter(dynamodb=aws_clients.dynamodb, table=resources.names.raw_table)
    for message_id, timestamp in messages:
        event = eum_event(
            text(f"part {message_id}", id=message_id, timestamp=timestamp), wa_id=wa_id
        )
        await writer.write(parse_eum_event(event).messages)
    return [message_id for message_id, _ in messages]


async def test_stream_records_become_one_ordered_burst_per_customer(aws_clients, resources):
    ana = [wamid() for _ in range(3)]
    ben = wamid()
    async with bridge(aws_clients, resources, BufferConfig(quiet_s=0.3, max_wait_s=5.0)) as run:
        # Written out of WhatsApp order: the burst follows the customer's timestamps.
        await write(aws_clients, resources, ANA, (ana[2], 1003), (ana[0], 1001))
        await write(aws_clients, resources, BEN, (ben, 1001))
        await write(aws_clients, resources, ANA, (ana[1], 1002))

        await eventually(lambda: len(run.bursts) == 2, timeout_s=10)
        assert sorted(run.bursts) == sorted([ana, [ben]])
        # Delivered, so acknowledged: the checkpoint passes every record.
        await eventually(lambda: run.consumer.snapshot()[0].pending_records == 0, timeout_s=10)


async def test_a_graceful_stop_flushes_the_buffer_before_letting_go(aws_clients, resources):
    ana = [wamid(), wamid()]
    quiet_forever = BufferConfig(quiet_s=600.0, max_wait_s=600.0)
    async with bridge(aws_clients, resources, quiet_forever) as first:
        await write(aws_clients, resources, ANA, (ana[0], 1001), (ana[1], 1002))
        await eventually(lambda: sum(s["messages"] for s in first.buffer.snapshot()) == 2)
        assert first.bursts == []
    # Leaving the block stopped both: the shutdown flush delivered what the quiet window held.
    assert first.bursts == [ana]

    # The released checkpoint covers them: a new worker reads nothing again.
    async with bridge(aws_clients, resources, BufferConfig(quiet_s=0.1)) as second:
        later = await write(aws_clients, resources, ANA, (wamid(), 1003))
        await eventually(lambda: second.bursts == [later], timeout_s=10)
