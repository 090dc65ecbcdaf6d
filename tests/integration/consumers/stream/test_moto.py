"""End to end on the embedded AWS: the raw-messages table's real stream, read by the consumer
through the production aiobotocore clients (moto has one shard that never closes)."""

import asyncio

from prometheus_client import CollectorRegistry

from service.consumers.stream.consumer import StreamConsumer, make_worker_id
from service.consumers.stream.leases import stream_label
from tests.fakes.stream_cluster import LONG_LEASE
from tests.fakes.stream_handler import Delivery, ListDeadLetters, ScriptedHandler
from tests.support.waiting import eventually


async def put_message(
    aws_clients, resources, customer: str, message_id: str, text: str = "hi"
) -> None:
    await aws_clients.dynamodb.put_item(
        TableName=resources.names.raw_table,
        Item={"customer": {"S": customer}, "message_id": {"S": message_id}, "text": {"S": text}},
    )


def consumer_for(aws_clients, resources, handler: ScriptedHandler) -> StreamConsumer:
    return StreamConsumer(
        config=LONG_LEASE,
        stream_arn=resources.created.stream_arn,
        dynamodb=aws_clients.dynamodb,
        leases_table=resources.names.leases_table,
        streams=aws_clients.streams,
        handler=handler,
        dead_letters=ListDeadLetters(),
        registry=CollectorRegistry(),
        worker_id=make_worker_id("task-1"),
    )


async def test_real_stream_is_read_checkpointed_and_resumed_after_restart(aws_clients, resources):
    deliveries: list[Delivery] = []
    for i in range(3):
        await put_message(aws_clients, resources, "c1", f"m{i}")
    await put_message(aws_clients, resources, "c1", "m0", text="rewritten")  # MODIFY: ignored

    first = consumer_for(
        aws_clients, resources, ScriptedHandler(name="first", deliveries=deliveries)
    )
    running = asyncio.create_task(first.run())
    await eventually(lambda: [d.message_id for d in deliveries] == ["m0", "m1", "m2"])
    await eventually(lambda: first.snapshot()[0].pending_records == 0)
    first.request_stop()
    await running

    shards = first.snapshot()
    assert len(shards) == 1
    assert shards[0].owner is None
    assert int(shards[0].checkpoint) > 0  # the MODIFY's sequence number: done at once
    label = stream_label(resources.created.stream_arn)
    assert shards[0].lease_key.startswith(f"{label}#")

    await put_message(aws_clients, resources, "c2", "m3")
    second = consumer_for(
        aws_clients, resources, ScriptedHandler(name="second", deliveries=deliveries)
    )
    running = asyncio.create_task(second.run())
    await eventually(lambda: [d.message_id for d in deliveries] == ["m0", "m1", "m2", "m3"])
    await asyncio.sleep(0.3)  # nothing else arrives: the restart resumed after the checkpoint
    assert [d.worker for d in deliveries] == ["first"] * 3 + ["second"]
    second.request_stop()
    await running
