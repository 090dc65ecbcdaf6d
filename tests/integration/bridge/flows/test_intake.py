"""Inbound events become raw items before SQS lets go of them; bad events are parked."""

import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from service.bridge.adapters.raw_messages import RawMessageWriter, decode_image
from service.bridge.events.eum import parse_eum_event
from service.bridge.events.transport import Settle
from service.bridge.flows import intake
from service.bridge.flows.intake import InboundMetrics, InboundQueueHandler
from service.consumers.sqs.message import QueueMessage
from tests.support.eum import eum_event, text, wamid


def _sqs_message(payload: str, sqs_id: str) -> QueueMessage:
    return QueueMessage(
        message_id=sqs_id,
        receipt_handle="r",
        body=payload,
        receive_count=1,
        payload=payload,
        attributes={},
    )


@pytest.fixture
def handler_parts(resources, aws_clients):
    writer = RawMessageWriter(dynamodb=aws_clients.dynamodb, table=resources.names.raw_table)
    registry = CollectorRegistry()
    statuses = []

    async def on_statuses(updates):
        statuses.extend(updates)

    handler = InboundQueueHandler(
        writer=writer, metrics=InboundMetrics(registry), on_statuses=on_statuses
    )
    return handler, registry, statuses


async def _raw_items(aws_clients, resources):
    scan = await aws_clients.dynamodb.scan(TableName=resources.names.raw_table, ConsistentRead=True)
    return scan["Items"]


async def test_messages_are_stored_then_done(handler_parts, aws_clients, resources):
    handler, registry, _ = handler_parts
    first, second = wamid(), wamid()
    verdicts = await handler(
        [
            _sqs_message(eum_event(text("Hello", id=first)), "s1"),
            _sqs_message(eum_event(text("I need help", id=second)), "s2"),
        ]
    )
    assert {k: v.settle for k, v in verdicts.items()} == {"s1": Settle.DONE, "s2": Settle.DONE}
    items = await _raw_items(aws_clients, resources)
    by_id = {item["message_id"]["S"]: item for item in items}
    assert set(by_id) == {first, second}
    stored = decode_image(by_id[first])
    assert stored.customer_key == "200000000000002#5215512345678"
    assert stored.payload is not None
    assert int(by_id[first]["expires_at"]["N"]) > int(by_id[first]["received_at_ms"]["N"]) // 1000
    assert registry.get_sample_value("bridge_inbound_messages_total", {"type": "text"}) == 2


async def test_a_duplicate_delivery_rewrites_the_same_item(handler_parts, aws_clients, resources):
    handler, _, _ = handler_parts
    message_id = wamid()
    event = eum_event(text("Hello", id=message_id))
    await handler([_sqs_message(event, "s1")])
    await handler([_sqs_message(event, "s2")])
    assert [i["message_id"]["S"] for i in await _raw_items(aws_clients, resources)] == [message_id]


async def test_a_customer_known_only_by_bsuid_is_stored_under_it(
    handler_parts, aws_clients, resources
):
    handler, _, _ = handler_parts
    await handler(
        [_sqs_message(eum_event(text("hola"), wa_id=None, bsuid="MX.1234567890ABC"), "s1")]
    )
    [item] = await _raw_items(aws_clients, resources)
    assert item["customer"]["S"] == "200000000000002#MX.1234567890ABC"


@pytest.mark.parametrize(
    "payload",
    ["not json", json.dumps({"context": {}}), json.dumps({"whatsAppWebhookEntry": "{broken"})],
)
async def test_malformed_events_are_poison_and_the_rest_flows(
    handler_parts, aws_clients, resources, payload
):
    handler, _, _ = handler_parts
    good = wamid()
    verdicts = await handler(
        [_sqs_message(payload, "bad"), _sqs_message(eum_event(text("ok", id=good)), "good")]
    )
    assert verdicts["bad"].settle is Settle.PARK
    assert verdicts["bad"].cause == "malformed"
    assert "5215512345678" not in verdicts["bad"].reason
    assert verdicts["good"].settle is Settle.DONE
    assert [i["message_id"]["S"] for i in await _raw_items(aws_clients, resources)] == [good]


async def test_a_parser_that_crashes_parks_that_event_as_malformed_and_the_rest_flows(
    handler_parts, aws_clients, resources, monkeypatch
):
    """Whatever the parser raises (not only its own error) is that event's, never the batch's."""
    handler, _, _ = handler_parts
    real = parse_eum_event

    def parse(payload: Any) -> Any:
        if "boom" in payload:
            raise RecursionError
        return real(payload)

    monkeypatch.setattr(intake, "parse_eum_event", parse)
    good = wamid()
    verdicts = await handler(
        [
            _sqs_message(eum_event(text("boom")), "crash"),
            _sqs_message(eum_event(text("fine", id=good)), "good"),
        ]
    )
    assert verdicts["crash"].settle is Settle.PARK
    assert verdicts["crash"].cause == "malformed"
    assert verdicts["crash"].reason == "malformed EUM event: parser raised RecursionError"
    assert verdicts["good"].settle is Settle.DONE
    assert [i["message_id"]["S"] for i in await _raw_items(aws_clients, resources)] == [good]


async def test_status_updates_are_handed_on_and_counted(handler_parts, aws_clients, resources):
    handler, registry, statuses = handler_parts
    status = {
        "id": "wamid.OURS==",
        "status": "failed",
        "timestamp": "1772450000",
        "recipient_id": "5215512345678",
        "errors": [{"code": 131047, "title": "Re-engagement message"}],
    }
    verdicts = await handler([_sqs_message(eum_event(statuses=[status]), "s1")])
    assert verdicts["s1"].settle is Settle.DONE
    assert [(s.message_id, s.status, s.errors[0].code) for s in statuses] == [
        ("wamid.OURS==", "failed", 131047)
    ]
    assert registry.get_sample_value("bridge_whatsapp_statuses_total", {"status": "failed"}) == 1
    assert await _raw_items(aws_clients, resources) == []


async def test_a_missing_table_means_retry_not_loss(aws_clients, resources):
    writer = RawMessageWriter(dynamodb=aws_clients.dynamodb, table="no-such-table")
    handler = InboundQueueHandler(writer=writer, metrics=InboundMetrics(CollectorRegistry()))
    verdicts = await handler([_sqs_message(eum_event(text("hi")), "s1")])
    assert verdicts["s1"].settle is Settle.RETRY
    assert "ResourceNotFoundException" in verdicts["s1"].reason


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _event_with_timestamp(stamp: str, message_id: str) -> str:
    event = json.loads(eum_event(text("odd time", id=message_id)))
    event["message_timestamp"] = stamp
    return json.dumps(event)


async def test_hostile_events_each_get_their_own_verdict_and_the_valid_ones_are_stored(
    handler_parts, aws_clients, resources
):
    """One batch of everything hostile input found: no exception leaves the handler."""
    handler, _, _ = handler_parts
    valid, odd_date, lone_surrogate = wamid(), wamid(), wamid()
    entry_nested = json.dumps(
        {
            "context": json.loads(eum_event(text("x")))["context"],
            "whatsAppWebhookEntry": _nested(5000),
        }
    )
    batch = [
        _sqs_message(_nested(5000), "nested"),
        _sqs_message(entry_nested, "nested-entry"),
        _sqs_message(_event_with_timestamp("2025-02-30T10:00:00.1Z", odd_date), "feb30"),
        _sqs_message(eum_event(text("k"), wa_id="5" * 3000), "long-key"),
        _sqs_message(eum_event(text("x" * 420_000)), "huge"),
        _sqs_message(eum_event(text("half \ud83d surrogate", id=lone_surrogate)), "surrogate"),
        _sqs_message(eum_event(text("fine", id=valid)), "valid"),
    ]
    verdicts = await handler(batch)
    outcomes = {k: (v.settle, v.cause) for k, v in verdicts.items()}
    assert outcomes == {
        "nested": (Settle.PARK, "malformed"),
        "nested-entry": (Settle.PARK, "malformed"),
        "feb30": (Settle.DONE, "poison"),
        "long-key": (Settle.PARK, "rejected"),
        "huge": (Settle.PARK, "rejected"),
        "surrogate": (Settle.DONE, "poison"),
        "valid": (Settle.DONE, "poison"),
    }
    assert all("5555" not in v.reason for v in verdicts.values())
    stored = {i["message_id"]["S"]: i for i in await _raw_items(aws_clients, resources)}
    assert set(stored) == {valid, odd_date, lone_surrogate}
    assert decode_image(stored[lone_surrogate]).payload.body == "half \ufffd surrogate"  # type: ignore[union-attr]


async def test_statuses_that_fail_retry_only_their_own_message(aws_clients, resources):
    writer = RawMessageWriter(dynamodb=aws_clients.dynamodb, table=resources.names.raw_table)

    async def on_statuses(updates):
        raise RecursionError("a bug reached by one status")

    handler = InboundQueueHandler(
        writer=writer, metrics=InboundMetrics(CollectorRegistry()), on_statuses=on_statuses
    )
    status = {"id": "wamid.OURS==", "status": "read", "timestamp": "1772450000"}
    verdicts = await handler(
        [
            _sqs_message(eum_event(statuses=[status]), "status"),
            _sqs_message(eum_event(text("hello")), "text"),
        ]
    )
    assert verdicts["status"].settle is Settle.RETRY
    assert verdicts["text"].settle is Settle.DONE
