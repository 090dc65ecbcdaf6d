"""A burst reaches Connect exactly once: new chats, live chats, recovery, replays, sizes."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from service.aws_requests import count_requests
from service.bridge.adapters.connect_config import ConnectConfig
from service.bridge.adapters.connection import ChatConnection
from service.bridge.adapters.ledger import DeliveryLedger
from service.bridge.adapters.sessions import SessionStore
from service.bridge.events.eum import parse_eum_event
from service.bridge.events.whatsapp import InboundMessage
from service.bridge.flows.deliver import InboundDelivery, InboundOptions
from service.local import constants
from tests.support.eum import eum_event, text, wamid

CONFIG = ConnectConfig(
    instance_id=constants.CONNECT_INSTANCE_ID,
    contact_flow_id=constants.CONTACT_FLOW_ID,
    chat_duration_minutes=60,
)


def burst(*bodies: str, wa_id: str = "5215512345678") -> list[InboundMessage]:
    messages = [text(body, id=wamid()) for body in bodies]
    return list(parse_eum_event(eum_event(*messages, wa_id=wa_id)).messages)


@pytest.fixture
def parts(sim, resources, sim_clients, connect_chat):
    sessions = SessionStore(dynamodb=sim_clients.dynamodb, table=resources.names.sessions_table)
    ledger = DeliveryLedger(dynamodb=sim_clients.dynamodb, table=resources.names.idempotency_table)
    return sessions, ledger


def delivery(connect_chat, parts, **options) -> InboundDelivery:
    sessions, ledger = parts
    return InboundDelivery(
        connect=connect_chat,
        connection=ChatConnection(connect=connect_chat, sessions=sessions),
        sessions=sessions,
        ledger=ledger,
        config=lambda: CONFIG,
        options=InboundOptions(**options),
    )


async def contacts(sandbox) -> list[dict[str, Any]]:
    response = await sandbox.get("/sandbox/contacts")
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["contacts"]
    return found


def customer_items(contact: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        i
        for i in contact["transcript"]
        if i["participantRole"] == "CUSTOMER" and i["contentType"] == "text/plain"
    ]


async def test_a_burst_opens_one_chat_with_the_joined_text(connect_chat, parts, sandbox):
    await delivery(connect_chat, parts).deliver(
        burst("Hello", "I need help", "with my order", "P12345")
    )
    [contact] = await contacts(sandbox)
    [item] = customer_items(contact)
    assert item["content"] == "Hello\nI need help\nwith my order\nP12345"
    assert contact["attributes"]["Channel"] == "WhatsApp"
    assert contact["state"] == "CONNECTED"
    session = await parts[0].get("200000000000002#5215512345678")
    assert session is not None
    assert session.initial_contact_id == contact["initialContactId"]


async def test_the_next_burst_goes_into_the_live_chat(connect_chat, parts, sandbox):
    bridge = delivery(connect_chat, parts)
    await bridge.deliver(burst("first"))
    await bridge.deliver(burst("second"))
    [contact] = await contacts(sandbox)
    assert [i["content"] for i in customer_items(contact)] == ["first", "second"]


async def test_two_customers_get_two_chats(connect_chat, parts, sandbox):
    bridge = delivery(connect_chat, parts)
    await bridge.deliver(burst("from ana", wa_id="5215500000001"))
    await bridge.deliver(burst("from bo", wa_id="5215500000002"))
    found = await contacts(sandbox)
    assert sorted(customer_items(c)[0]["content"] for c in found) == ["from ana", "from bo"]


async def test_a_replayed_burst_creates_nothing_twice(connect_chat, parts, sandbox):
    bridge = delivery(connect_chat, parts)
    messages = burst("Hello", "again")
    await bridge.deliver(messages)
    await bridge.deliver(messages)
    [contact] = await contacts(sandbox)
    assert [i["content"] for i in customer_items(contact)] == ["Hello\nagain"]


async def test_a_new_burst_is_recorded_without_reading_the_ledger_first(
    connect_chat, parts, sandbox, sim_clients
):
    # DESIGN §5.3 is kept by the ledger transaction's conditions; the read that sorts a
    # replay is made only when the transaction finds a message claimed already.
    bridge = delivery(connect_chat, parts)
    await bridge.deliver(burst("first"))  # opens the chat
    registry = CollectorRegistry()
    count_requests(sim_clients, registry)

    await bridge.deliver(burst("second", "third"))
    messages = burst("fourth")
    await bridge.deliver(messages)
    await bridge.deliver(messages)  # a replay: read, found complete, skipped

    def calls(operation: str) -> float:
        labels = {"service": "dynamodb", "operation": operation}
        return registry.get_sample_value("bridge_aws_requests_total", labels) or 0.0

    assert calls("BatchGetItem") == 2  # the replay's only: its claims, then their delivery
    assert calls("TransactWriteItems") == 3  # two deliveries recorded, one refused
    [contact] = await contacts(sandbox)
    assert [i["content"] for i in customer_items(contact)] == ["first", "second\nthird", "fourth"]


async def test_a_replay_grouped_differently_delivers_only_the_new_messages(
    connect_chat, parts, sandbox
):
    bridge = delivery(connect_chat, parts)
    messages = burst("one", "two", "three")
    await bridge.deliver(messages[:2])
    await bridge.deliver(messages)  # the crash replay: the first two again, with the third
    [contact] = await contacts(sandbox)
    assert [i["content"] for i in customer_items(contact)] == ["one\ntwo", "three"]


async def test_a_crash_after_connect_accepted_resumes_with_the_same_tokens(
    connect_chat, parts, sandbox
):
    sessions, ledger = parts
    messages = burst("lost ack")
    # The crashed worker recorded the delivery and Connect took its first part,
    # but the worker died before recording progress.
    bridge = delivery(connect_chat, parts)
    recorded = await ledger.open(
        messages[0].customer_key, [m.message_id for m in messages], ["lost ack"]
    )
    await connect_chat.start_chat(
        instance_id=CONFIG.instance_id,
        contact_flow_id=CONFIG.contact_flow_id,
        display_name="Ana",
        attributes={},
        initial_message="lost ack",
        chat_duration_minutes=60,
        client_token=recorded.start_token(0),
    )
    await bridge.deliver(messages)
    [contact] = await contacts(sandbox)
    assert [i["content"] for i in customer_items(contact)] == ["lost ack"]
    assert (await sessions.get(messages[0].customer_key)) is not None


async def test_an_expired_connection_is_renewed_in_the_same_chat(connect_chat, parts, sandbox):
    bridge = delivery(connect_chat, parts)
    await bridge.deliver(burst("before"))
    (
        await sandbox.post("/sandbox/faults", json={"action": "expire_connection_tokens"})
    ).raise_for_status()
    await bridge.deliver(burst("after"))
    [contact] = await contacts(sandbox)
    assert [i["content"] for i in customer_items(contact)] == ["before", "after"]


async def test_an_ended_chat_is_replaced_by_a_new_one_holding_the_message(
    connect_chat, parts, sandbox
):
    bridge = delivery(connect_chat, parts)
    await bridge.deliver(burst("first chat"))
    [first] = await contacts(sandbox)
    (await sandbox.post(f"/sandbox/contacts/{first['contactId']}/end")).raise_for_status()
    await bridge.deliver(burst("after the end"))
    found = {c["contactId"]: c for c in await contacts(sandbox)}
    assert len(found) == 2
    second = next(c for cid, c in found.items() if cid != first["contactId"])
    assert [i["content"] for i in customer_items(second)] == ["after the end"]
    session = await parts[0].get("200000000000002#5215512345678")
    assert session is not None
    assert session.contact_id == second["contactId"]


@pytest.mark.parametrize("ended_by", ["flow", "before_streaming"])
async def test_a_chat_ended_before_the_bridge_joins_is_not_retried_forever(
    connect_chat, parts, sandbox, ended_by
):
    """An out-of-hours flow ends the chat at once: the burst is in it, and done."""
    if ended_by == "flow":
        (
            await sandbox.post("/sandbox/config", json={"flow_ends_new_chats": True})
        ).raise_for_status()
    else:
        # The chat is over even before StartContactStreaming reaches it.
        fault = {
            "operation": "StartContactStreaming",
            "error": "InvalidRequestException",
            "count": 1,
        }
        await sandbox.post("/sandbox/faults", json=fault)
        deny = {
            "operation": "CreateParticipantConnection",
            "error": "AccessDeniedException",
            "count": 1,
        }
        await sandbox.post("/sandbox/faults", json=deny)
    bridge = delivery(connect_chat, parts)
    first = burst("are you open?")
    await bridge.deliver(first)  # no exception: nothing left to retry
    [contact] = await contacts(sandbox)
    assert [i["content"] for i in customer_items(contact)] == ["are you open?"]
    assert await parts[0].get("200000000000002#5215512345678") is None
    await bridge.deliver(first)  # a replay finds it recorded: no second chat
    assert len(await contacts(sandbox)) == 1
    (await sandbox.post("/sandbox/config", json={"flow_ends_new_chats": False})).raise_for_status()
    await bridge.deliver(burst("hello?"))
    later = [c for c in await contacts(sandbox) if c["contactId"] != contact["contactId"]]
    assert [i["content"] for c in later for i in customer_items(c)] == ["hello?"]


async def test_a_long_text_arrives_complete_in_parts_within_the_limit(connect_chat, parts, sandbox):
    long_text = " ".join(f"word{i}" for i in range(3500))  # about 30,000 characters
    await delivery(connect_chat, parts, text_limit=1024).deliver(burst(long_text))
    [contact] = await contacts(sandbox)
    contents = [i["content"] for i in customer_items(contact)]
    assert len(contents) > 1
    assert all(len(c) <= 1024 for c in contents)
    assert " ".join(contents).split() == long_text.split()


async def test_connect_size_rejections_split_the_part_further(connect_chat, parts, sandbox):
    (await sandbox.post("/sandbox/config", json={"connect_text_limit": 300})).raise_for_status()
    bridge = delivery(connect_chat, parts, text_limit=1024)
    await bridge.deliver(burst("opening"))
    long_text = " ".join(f"w{i}" for i in range(200))  # about 1,000 characters
    await bridge.deliver(burst(long_text))
    [contact] = await contacts(sandbox)
    contents = [i["content"] for i in customer_items(contact)]
    assert contents[0] == "opening"
    assert all(len(c) <= 300 for c in contents)
    assert " ".join(contents[1:]).split() == long_text.split()


async def test_a_transient_connect_failure_mid_delivery_resumes_without_doubles(
    connect_chat, parts, sandbox
):
    bridge = delivery(connect_chat, parts, text_limit=200)
    await bridge.deliver(burst("opening"))
    (
        await sandbox.post(
            "/sandbox/faults",
            json={
                "operation": "SendMessage",
                "error": "InternalServerException",
                "count": 1,
                "after": 1,
            },
        )
    ).raise_for_status()
    long_text = " ".join(f"w{i}" for i in range(150))
    messages = burst(long_text)
    with pytest.raises(Exception):  # noqa: B017  whichever retryable error the fault maps to
        await bridge.deliver(messages)
    await bridge.deliver(messages)
    [contact] = await contacts(sandbox)
    contents = [i["content"] for i in customer_items(contact)]
    assert " ".join(contents[1:]).split() == long_text.split()


async def test_only_ignored_messages_send_nothing(connect_chat, parts, sandbox):
    sticker = {
        "type": "sticker",
        "sticker": {"id": "123", "mime_type": "image/webp"},
        "id": wamid(),
    }
    messages = list(parse_eum_event(eum_event(sticker)).messages)
    bridge = delivery(connect_chat, parts)
    # Stickers are forwarded by default since they became attachments; an operator's
    # ignore_stickers still drops them.
    ignoring = CONFIG.model_copy(update={"ignore_stickers": True})
    bridge._config = lambda: ignoring
    await bridge.deliver(messages)
    assert await contacts(sandbox) == []


async def test_a_message_brought_back_after_its_burst_says_it_arrived_late(
    connect_chat, parts, sandbox
):
    bridge = delivery(connect_chat, parts)
    early, later = text("first, sent early", id=wamid()), text("second", id=wamid())
    early["timestamp"], later["timestamp"] = 1772360000, 1772360010
    [first] = parse_eum_event(eum_event(early)).messages
    [second] = parse_eum_event(eum_event(later)).messages
    await bridge.deliver([second])  # SQS brought the earlier one back only now
    await bridge.deliver([first])
    [contact] = await contacts(sandbox)
    assert [i["content"] for i in customer_items(contact)] == [
        "second",
        "⏱ sent 10:13:20 UTC, arrived late:\nfirst, sent early",
    ]


async def test_a_late_message_of_the_same_second_as_the_agents_newest_says_so(
    connect_chat, parts, sandbox
):
    """WhatsApp's time has one second; EUM's publication time orders within it (found by
    chaos campaign a with 3 workers: n20 reached the agent after n21, both sent at :45)."""
    bridge = delivery(connect_chat, parts)
    n19, n20, n21 = (text(body, id=wamid()) for body in ("n19", "n20", "n21"))
    published = 1772360045_000_000_000
    messages = []
    for offset_ns, wire in ((100, n19), (500, n20), (900, n21)):
        wire["timestamp"] = 1772360045
        [message] = parse_eum_event(eum_event(wire)).messages
        messages.append(message.model_copy(update={"published_at_ns": published + offset_ns}))
    first, late, newest = messages
    await bridge.deliver([first, newest])  # SQS brought n20 back only now
    await bridge.deliver([late])
    [contact] = await contacts(sandbox)
    assert [i["content"] for i in customer_items(contact)] == [
        "n19\nn21",
        "⏱ sent 10:14:05 UTC, arrived late:\nn20",
    ]
