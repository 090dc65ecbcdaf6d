"""`adapters/raw_messages.py` against the embedded DynamoDB: what the order gate reads."""

from __future__ import annotations

import json

from service.aws import AwsClients
from service.bridge.adapters.raw_messages import RawMessageReader, RawMessageWriter
from service.bridge.events.connect import AgentItem

CUSTOMER = "123456789012345#5215512345678"


def _agent_item(key: str) -> AgentItem:
    body = {
        "Id": key,
        "Type": "MESSAGE",
        "ContentType": "text/plain",
        "Content": f"text of {key}",
        "ParticipantRole": "AGENT",
        "AbsoluteTime": "2026-11-26T10:00:00.000Z",
        "InitialContactId": "contact-1",
        "ContactId": "contact-1",
    }
    return AgentItem.of(customer_key=CUSTOMER, key=key, payload=json.dumps(body), attributes={})


async def test_stored_agent_items_names_what_the_router_wrote_and_when(
    aws_clients: AwsClients, resources
):
    table = resources.names.raw_table
    writer = RawMessageWriter(dynamodb=aws_clients.dynamodb, table=table)
    reader = RawMessageReader(dynamodb=aws_clients.dynamodb, table=table)
    await writer.write_agent_items([_agent_item("a1"), _agent_item("a2")])

    found = await reader.stored_agent_items(CUSTOMER, ["a1", "a2", "a3", "a1"])

    assert set(found) == {"a1", "a2"}
    assert all(ms > 1_700_000_000_000 for ms in found.values())
    assert await reader.stored_agent_items("other#customer", ["a1"]) == {}


async def test_stored_agent_items_reads_beyond_one_batch(aws_clients: AwsClients, resources):
    table = resources.names.raw_table
    writer = RawMessageWriter(dynamodb=aws_clients.dynamodb, table=table)
    reader = RawMessageReader(dynamodb=aws_clients.dynamodb, table=table)
    keys = [f"k{n:03d}" for n in range(130)]
    await writer.write_agent_items([_agent_item(k) for k in keys])

    assert set(await reader.stored_agent_items(CUSTOMER, keys)) == set(keys)


async def test_a_write_tells_the_stream_readers_once_and_nothing_written_tells_nobody(
    aws_clients: AwsClients, resources
):
    told: list[None] = []
    writer = RawMessageWriter(
        dynamodb=aws_clients.dynamodb,
        table=resources.names.raw_table,
        on_written=lambda: told.append(None),
    )
    await writer.write_agent_items([_agent_item("w1"), _agent_item("w2")])
    assert len(told) == 1  # one wake per write, however many items
    await writer.write_agent_items([])
    assert len(told) == 1
