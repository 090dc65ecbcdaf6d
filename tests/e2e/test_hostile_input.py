"""Regression tests for defects found with hostile input and faults (issue 16).

Each drives the real bridge (`run_bridge`) against the embedded AWS and the simulator.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from service.aws import AwsClients
from tests.e2e.conftest import Sandbox, text
from tests.e2e.test_outbound import WA_ID, _chat
from tests.support.waiting import eventually

# 18 KB of nesting: deeper than Python's recursion limit, well inside SQS's 256 KB.
NESTED = "[" * 9000 + "]" * 9000


async def _dlq(clients: AwsClients, url: str) -> list[dict[str, Any]]:
    answer = await clients.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
    )
    return [dict(m) for m in answer.get("Messages", [])]


async def _metric(admin: httpx.AsyncClient, name: str, **labels: str) -> float:
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    total = 0.0
    for line in (await admin.get("/metrics")).text.splitlines():
        if line.startswith(name + "{") and all(w in line for w in wanted):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_a_deeply_nested_body_is_parked_once_and_the_bridge_keeps_running(
    bridge, world: Sandbox, resources, aws_clients: AwsClients
):
    names = resources.names
    for queue in (names.inbound_queue, names.outbound_queue):
        await aws_clients.sqs.send_message(QueueUrl=resources.queue_url(queue), MessageBody=NESTED)
    await world.send(WA_ID, text("still"), text("here"))

    async def delivered() -> list[tuple[str, str]] | None:
        found = await world.customer_messages()
        return found or None

    [(_, content)] = await eventually(delivered)
    assert content == "still\nhere"
    for dlq, source in ((names.inbound_dlq, "inbound"), (names.outbound_dlq, "outbound")):

        async def parked(url: str = resources.queue_url(dlq)) -> list[dict[str, Any]] | None:
            return await _dlq(aws_clients, url) or None

        [message] = await eventually(parked)
        attributes = message["MessageAttributes"]
        assert attributes["bridge_source"]["StringValue"] == source
        assert attributes["bridge_reason"]["StringValue"].startswith("malformed")
        assert await _metric(bridge, "bridge_sqs_parked_total", queue=source) == 1
    assert (await bridge.get("/healthz")).status_code == 200


async def test_a_refusal_right_after_a_successful_reconnect_keeps_the_chat(
    bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    contact = await _chat(world, admin=bridge)
    # The first SendMessage is refused (stale connection), the reconnect succeeds, and the
    # send right after it is refused once more, as Connect does while a new connection
    # propagates. The chat is alive: the message must land in it, not in a new chat.
    fault = {"operation": "SendMessage", "error": "AccessDeniedException", "count": 2}
    (await sandbox.post("/sandbox/faults", json=fault)).raise_for_status()
    await world.send(WA_ID, text("order P12345"))

    async def two() -> list[tuple[str, str]] | None:
        found = await world.customer_messages()
        return found if len(found) == 2 else None

    found = await eventually(two)
    assert {contact_id for contact_id, _ in found} == {contact["contactId"]}
    assert len(await world.contacts()) == 1
    assert len((await bridge.get("/admin/sessions")).json()["sessions"]) == 1


async def _wait_for_delivery_receipts(world: Sandbox) -> None:
    async def reacted() -> bool:
        return any(m["type"] == "reaction" for m in await world.outbox())

    await eventually(reacted)


async def test_an_unknown_whatsapp_error_releases_the_claim_and_the_reply_is_retried_at_once(
    bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    contact = await _chat(world)
    await _wait_for_delivery_receipts(world)
    # Five failures outlast botocore's own retries (aws_max_attempts), so the bridge meets
    # a code its error table does not list.
    fault = {"operation": "SendWhatsAppMessage", "error": "ServiceUnavailableException", "count": 5}
    (await sandbox.post("/sandbox/faults", json=fault)).raise_for_status()
    sent = await sandbox.post(
        f"/sandbox/contacts/{contact['contactId']}/agent/messages", json={"text": "Right away"}
    )
    sent.raise_for_status()

    async def replied() -> list[dict[str, Any]] | None:
        texts = [m for m in await world.outbox() if m["type"] == "text"]
        return texts or None

    # Held by a claim nobody released, it would wait out the claim's 60 s expiry.
    texts = await eventually(replied, timeout_s=20)
    await asyncio.sleep(2)
    texts = [m for m in await world.outbox() if m["type"] == "text"]
    assert [m["message"]["text"]["body"] for m in texts] == ["Right away"]


async def test_an_unknown_whatsapp_refusal_is_told_to_the_agent_once(
    bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    contact = await _chat(world)
    await _wait_for_delivery_receipts(world)
    fault = {"operation": "SendWhatsAppMessage", "error": "BrandNewRefusalException", "count": 1}
    (await sandbox.post("/sandbox/faults", json=fault)).raise_for_status()
    await sandbox.post(
        f"/sandbox/contacts/{contact['contactId']}/agent/messages", json={"text": "Hello?"}
    )

    async def noted() -> list[str] | None:
        [current] = [c for c in await world.contacts() if c["contactId"] == contact["contactId"]]
        notes = [
            c for i in current["transcript"] if "Not delivered" in (c := i.get("content") or "")
        ]
        return notes or None

    notes = await eventually(noted)
    assert len(notes) == 1
    assert not [m for m in await world.outbox() if m["type"] == "text"]


async def test_hostile_connect_events_are_parked_each_with_a_reason(
    bridge, world: Sandbox, resources, aws_clients: AwsClients
):
    contact = await _chat(world)
    url = resources.queue_url(resources.names.outbound_queue)
    interactive = {
        "Type": "MESSAGE",
        "ContentType": "application/vnd.amazonaws.connect.message.interactive",
        "Content": "[" * 5000 + "]" * 5000,
        "ParticipantRole": "AGENT",
        "InitialContactId": contact["contactId"],
        "ContactId": contact["contactId"],
        "Id": "item-nested-interactive",
        "AbsoluteTime": "2026-03-01T10:15:30.123Z",
    }
    for body in ("not json", json.dumps([1, 2]), NESTED, json.dumps(interactive)):
        await aws_clients.sqs.send_message(QueueUrl=url, MessageBody=body)

    async def parked() -> bool:
        return await _metric(bridge, "bridge_sqs_parked_total", queue="outbound") == 3

    await eventually(parked)
    assert (await bridge.get("/healthz")).status_code == 200
