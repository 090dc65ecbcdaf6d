"""A customer's file reaches the chat exactly once, whatever crashes around its upload."""

from __future__ import annotations

from typing import Any

import pytest

from service.bridge.adapters.connection import ChatConnection
from service.bridge.adapters.inbound_media import InboundMediaStore
from service.bridge.adapters.ledger import Delivery, DeliveryLedger
from service.bridge.adapters.sessions import SessionStore
from service.bridge.events.eum import parse_eum_event
from service.bridge.events.whatsapp import InboundMessage
from service.bridge.flows.attach import MediaAttacher
from service.bridge.flows.deliver import InboundDelivery
from service.bridge.policy.attachments import AttachmentRules
from tests.integration.bridge.flows.test_deliver import CONFIG, contacts
from tests.support.eum import eum_event, text, wamid
from tests.support.media import fixture


class _CrashError(Exception):
    """The worker dies here (SIGKILL: nothing after this line runs)."""


class CrashAfterAttachment(DeliveryLedger):
    """A ledger whose worker dies right after Connect completed the attachment part."""

    armed = True

    async def advance(
        self, delivery: Delivery, progress: int, *, contact_id: str | None, complete: bool = False
    ) -> Any:
        if self.armed and not isinstance(delivery.parts[progress - 1], str):
            self.armed = False
            raise _CrashError
        return await super().advance(delivery, progress, contact_id=contact_id, complete=complete)


async def upload(sandbox, name: str, mime: str) -> str:
    response = await sandbox.post(
        "/sandbox/customers/5215512345678/media",
        content=fixture(name),
        headers={"content-type": mime},
    )
    response.raise_for_status()
    media_id: str = response.json()["mediaId"]
    return media_id


def burst(*messages: dict[str, Any]) -> list[InboundMessage]:
    wired = [m | {"id": wamid()} for m in messages]
    return list(parse_eum_event(eum_event(*wired)).messages)


def delivery(connect_chat, sim_clients, resources, ledger: DeliveryLedger) -> InboundDelivery:
    sessions = SessionStore(dynamodb=sim_clients.dynamodb, table=resources.names.sessions_table)
    connection = ChatConnection(connect=connect_chat, sessions=sessions)
    return InboundDelivery(
        connect=connect_chat,
        connection=connection,
        sessions=sessions,
        ledger=ledger,
        config=lambda: CONFIG,
        attacher=MediaAttacher(
            connect=connect_chat,
            connection=connection,
            store=InboundMediaStore(
                social=sim_clients.social, s3=sim_clients.s3, bucket=resources.names.media_bucket
            ),
            rules=AttachmentRules(),
        ),
    )


def shown(contact: dict[str, Any]) -> list[str]:
    return [
        item["content"] if item["type"] == "MESSAGE" else f"file:{item['attachments'][0]['name']}"
        for item in contact["transcript"]
        if item["participantRole"] == "CUSTOMER" and item["type"] in {"MESSAGE", "ATTACHMENT"}
    ]


async def test_a_failure_between_upload_and_complete_then_a_replay_gives_one_attachment(
    connect_chat, sim_clients, resources, sandbox
):
    ledger = DeliveryLedger(dynamodb=sim_clients.dynamodb, table=resources.names.idempotency_table)
    bridge = delivery(connect_chat, sim_clients, resources, ledger)
    photo = await upload(sandbox, "photo.jpg", "image/jpeg")
    messages = burst(
        text("look"), {"type": "image", "image": {"id": photo, "mime_type": "image/jpeg"}}
    )
    (
        await sandbox.post(
            "/sandbox/faults",
            json={
                "operation": "CompleteAttachmentUpload",
                "error": "InternalServerException",
                "count": 1,
            },
        )
    ).raise_for_status()
    with pytest.raises(Exception):  # noqa: B017  whichever retryable error the fault maps to
        await bridge.deliver(messages)
    await bridge.deliver(messages)
    [contact] = await contacts(sandbox)
    assert shown(contact) == ["look\n[Image]", "file:image.jpg"]
    listed = (await sandbox.get(f"/sandbox/contacts/{contact['contactId']}/attachments")).json()
    assert len(listed["attachments"]) == 1


async def test_a_crash_after_complete_before_the_ledger_advanced_uploads_nothing_twice(
    connect_chat, sim_clients, resources, sandbox
):
    crashing = CrashAfterAttachment(
        dynamodb=sim_clients.dynamodb, table=resources.names.idempotency_table
    )
    photo = await upload(sandbox, "invoice.pdf", "application/pdf")
    messages = burst(
        {"type": "document", "document": {"id": photo, "filename": "bill.pdf"}},
        text("after the file"),
    )
    with pytest.raises(_CrashError):
        await delivery(connect_chat, sim_clients, resources, crashing).deliver(messages)
    # The restarted worker replays the same messages with a fresh ledger object.
    fresh = DeliveryLedger(dynamodb=sim_clients.dynamodb, table=resources.names.idempotency_table)
    await delivery(connect_chat, sim_clients, resources, fresh).deliver(messages)
    [contact] = await contacts(sandbox)
    assert shown(contact) == ["[Document: bill.pdf]", "file:bill.pdf", "after the file"]
    listed = (await sandbox.get(f"/sandbox/contacts/{contact['contactId']}/attachments")).json()
    [attachment] = listed["attachments"]
    data = await sandbox.get(attachment["downloadPath"])
    assert data.content == fixture("invoice.pdf")
