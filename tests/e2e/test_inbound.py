"""Issue-level acceptance of the inbound path: WhatsApp bursts become Connect messages.

The real bridge runs in the test's event loop against the embedded AWS and the simulator,
over HTTP: sandbox customer → SNS → SQS → bridge → DynamoDB → stream → buffer → Connect.
"""

from __future__ import annotations

import asyncio
import json

from tests.e2e.conftest import QUIET_S, Sandbox, text
from tests.support.waiting import eventually


async def test_a_burst_becomes_exactly_one_connect_message_in_order(bridge, world: Sandbox):
    await world.send(
        "5215512345678",
        *(text(t) for t in ("Hello", "I need help", "with my order", "P12345")),
        delay_ms=300,
    )

    async def delivered():
        return await world.customer_messages()

    [(_, content)] = await eventually(delivered)
    assert content == "Hello\nI need help\nwith my order\nP12345"
    await asyncio.sleep(QUIET_S * 2)
    assert len(await world.customer_messages()) == 1


async def test_two_bursts_separated_by_a_pause_become_two_messages(bridge, world: Sandbox):
    await world.send("5215512345678", text("first"), text("burst"))

    async def one():
        return len(await world.customer_messages()) == 1

    await eventually(one)
    await world.send("5215512345678", text("second"), text("burst"))

    async def two():
        found = await world.customer_messages()
        return found if len(found) == 2 else None

    first, second = await eventually(two)
    assert first[0] == second[0], "the second burst goes into the same chat"
    assert [first[1], second[1]] == ["first\nburst", "second\nburst"]


async def test_interleaved_customers_never_mix(bridge, world: Sandbox):
    async def customer(wa_id: str, name: str) -> None:
        for i in range(3):
            await world.send(wa_id, text(f"{name} {i}"))
            await asyncio.sleep(0.2)

    await asyncio.gather(customer("5215500000001", "ana"), customer("5215500000002", "bo"))

    async def both():
        found = await world.customer_messages()
        return found if len(found) == 2 else None

    found = await eventually(both)
    contents = sorted(content for _, content in found)
    assert contents == ["ana 0\nana 1\nana 2", "bo 0\nbo 1\nbo 2"]
    assert len({contact for contact, _ in found}) == 2


async def test_a_very_long_text_arrives_complete_within_the_limit(bridge, world: Sandbox):
    long_text = " ".join(f"word{i:05d}" for i in range(2001))  # 20,009 characters
    assert len(long_text) >= 20_000
    await world.send("5215512345678", text(long_text))

    async def all_parts():
        found = await world.customer_messages()
        joined = " ".join(content for _, content in found)
        return found if joined.split() == long_text.split() else None

    found = await eventually(all_parts)
    assert all(len(content) <= 1024 for _, content in found)
    assert len({contact for contact, _ in found}) == 1


async def test_a_duplicate_sns_delivery_gives_one_connect_message(bridge, world: Sandbox):
    [message_id] = await world.send("5215512345678", text("only once"))
    await world.send("5215512345678", text("only once") | {"id": message_id})

    async def delivered():
        return await world.customer_messages()

    await eventually(delivered)
    await asyncio.sleep(QUIET_S * 2)
    assert [content for _, content in await world.customer_messages()] == ["only once"]


async def test_a_malformed_event_is_parked_and_the_next_customer_is_served(
    bridge, world: Sandbox, resources, aws_clients
):
    await aws_clients.sns.publish(TopicArn=resources.inbound_topic_arn, Message="{not an EUM event")
    await world.send("5215512345678", text("still served"))

    async def delivered():
        return await world.customer_messages()

    [(_, content)] = await eventually(delivered)
    assert content == "still served"
    dlq = resources.queue_url(resources.names.inbound_dlq)
    parked = await aws_clients.sqs.receive_message(
        QueueUrl=dlq, MessageAttributeNames=["All"], WaitTimeSeconds=2
    )
    [message] = parked["Messages"]
    assert json.loads(message["Body"])["Message"] == "{not an EUM event"
    assert "malformed" in message["MessageAttributes"]["bridge_reason"]["StringValue"]


async def test_expired_connection_reconnects_in_the_same_chat(bridge, world: Sandbox):
    await world.send("5215512345678", text("before"))

    async def connected():
        # The first message travels inside StartChatContact, so it is in the transcript
        # before the bridge has its participant connection; expire only once the session
        # (with its connection token) is stored.
        sessions = (await bridge.get("/admin/sessions")).json()["sessions"]
        return len(await world.customer_messages()) == 1 and len(sessions) == 1

    await eventually(connected)
    (
        await world.http.post("/sandbox/faults", json={"action": "expire_connection_tokens"})
    ).raise_for_status()
    await world.send("5215512345678", text("after"))

    async def two():
        found = await world.customer_messages()
        return found if len(found) == 2 else None

    found = await eventually(two)
    assert len({contact for contact, _ in found}) == 1
    assert [content for _, content in found] == ["before", "after"]
    # The expired token was really met and answered by a reconnect.
    metrics = (await bridge.get("/metrics")).text
    denied = [
        line
        for line in metrics.splitlines()
        if line.startswith("bridge_aws_call_errors_total{")
        and 'code="AccessDeniedException"' in line
        and 'service="connectparticipant"' in line
    ]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in denied) >= 1, metrics


async def test_an_ended_chat_means_a_new_chat_with_the_message(bridge, world: Sandbox):
    await world.send("5215512345678", text("first chat"))

    async def one():
        return await world.customer_messages()

    [(first_contact, _)] = await eventually(one)

    async def joined() -> bool:
        sessions = (await bridge.get("/admin/sessions")).json()["sessions"]
        return len(sessions) == 1

    await eventually(joined)  # ending the chat before the bridge joined is another test
    (await world.http.post(f"/sandbox/contacts/{first_contact}/end")).raise_for_status()
    await world.send("5215512345678", text("hello again"))

    async def two():
        found = await world.customer_messages()
        return found if len(found) == 2 else None

    found = await eventually(two)
    assert found[1][0] != first_contact
    assert found[1][1] == "hello again"


async def test_the_customer_sees_the_delivery_reaction_and_read_ticks(bridge, world: Sandbox):
    [first, second] = await world.send("5215512345678", text("one"), text("two"))

    async def reacted():
        sent = await world.outbox()
        return sent if any(m["message"].get("type") == "reaction" for m in sent) else None

    sent = await eventually(reacted)
    reactions = [m["message"]["reaction"] for m in sent if m["message"].get("type") == "reaction"]
    assert reactions == [{"message_id": second, "emoji": "✅"}]
    reads = [m["message"] for m in sent if m["message"].get("status") == "read"]
    assert [r["message_id"] for r in reads] == [second]
    assert first not in {r["message_id"] for r in reads}


async def test_a_spike_of_new_customers_under_throttling_is_delivered_slower_not_parked(
    bridge, world: Sandbox, resources, aws_clients
):
    """Many new chats at once while Connect throttles half the StartChatContact calls:
    every customer gets exactly one chat holding their message, and nothing is parked
    (throttling is backpressure, never a reason to dead-letter)."""
    throttle = {"operation": "StartChatContact", "error": "ThrottlingException", "rate": 0.5}
    (await world.http.post("/sandbox/faults", json=throttle)).raise_for_status()
    customers = [f"52155990{n:05d}" for n in range(30)]
    await asyncio.gather(*(world.send(wa_id, text(f"hi from {wa_id}")) for wa_id in customers))

    async def all_delivered() -> list[tuple[str, str]] | None:
        found = await world.customer_messages()
        return found if len(found) >= len(customers) else None

    delivered = await eventually(all_delivered, timeout_s=120)
    [rule] = (await world.http.get("/sandbox/faults")).json()["faults"]
    assert rule["injected"] > 0, "Connect did throttle"
    assert sorted(content for _, content in delivered) == sorted(f"hi from {c}" for c in customers)
    assert len({contact for contact, _ in delivered}) == len(customers), "one chat each"
    dlq = resources.queue_url(resources.names.inbound_dlq)
    parked = await aws_clients.sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=0)
    assert parked.get("Messages", []) == []
