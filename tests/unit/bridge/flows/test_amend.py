"""Edits and deletions: the wire shapes, the in-burst amendment, and the notes for the agent.

Meta's shapes as client libraries' test suites carry them (`edit` holds the new message
whole, `revoke` only the original id). Notes go through a fake of the bridge's voice whose
ClientToken idempotency is Connect's, so a replayed burst shows what the agent would see.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.bridge.events.codec import from_compact, to_compact
from service.bridge.events.eum import parse_eum_event
from service.bridge.events.whatsapp import (
    EditPayload,
    InboundMessage,
    MessageType,
    RevokePayload,
    TextPayload,
)
from service.bridge.flows.amend import Amendments
from service.bridge.policy.amendments import amend_burst
from service.bridge.text.render import render_burst
from tests.fakes.bridge import FakeChat, FakeSessions, make_session
from tests.support.eum import eum_event, text

WA_ID = "5215512345678"
BUSINESS = "200000000000002"


def edit(original: str, body: str, **extra: Any) -> dict[str, Any]:
    message = {"type": "text", "text": {"body": body}}
    return {"type": "edit", "edit": {"original_message_id": original, "message": message}} | extra


def edit_caption(original: str, caption: str) -> dict[str, Any]:
    image = {"caption": caption, "mime_type": "image/jpeg", "sha256": "x", "id": "65463453"}
    message = {"type": "image", "image": image}
    return {"type": "edit", "edit": {"original_message_id": original, "message": message}}


def revoke(original: str, **extra: Any) -> dict[str, Any]:
    return {"type": "revoke", "revoke": {"original_message_id": original}} | extra


def parsed(*messages: dict[str, Any]) -> list[InboundMessage]:
    return list(parse_eum_event(eum_event(*messages, wa_id=WA_ID)).messages)


def test_edit_and_revoke_parse_into_typed_payloads_and_survive_the_raw_table():
    edited, captioned, revoked = parsed(
        edit("wamid.A", "fixed", id="wamid.E"),
        edit_caption("wamid.B", "new caption"),
        revoke("wamid.C", id="wamid.R"),
    )
    assert edited.type is MessageType.EDIT
    assert edited.payload == EditPayload(
        original_message_id="wamid.A", new_type="text", text="fixed"
    )
    assert captioned.payload == EditPayload(
        original_message_id="wamid.B", new_type="image", text="new caption"
    )
    assert revoked.type is MessageType.REVOKE
    assert revoked.payload == RevokePayload(original_message_id="wamid.C")
    for message in (edited, captioned, revoked):
        assert from_compact(to_compact(message)) == message


def test_amendments_render_nothing_of_their_own():
    burst = parsed(edit("wamid.A", "fixed"), revoke("wamid.C"))
    assert render_burst(burst, ignore_stickers=True, ignore_reactions=True) == []


def test_in_burst_edits_apply_in_order_and_a_revoke_silences_its_original():
    burst = parsed(
        text("P12354", id="wamid.A"),
        text("secret", id="wamid.B"),
        edit("wamid.A", "P12345"),
        edit("wamid.A", "P12346"),
        revoke("wamid.B"),
        edit("wamid.B", "too late"),
        edit("wamid.GONE", "x"),
    )
    amended = amend_burst(burst)

    assert [m.message_id for m in amended.burst] == [m.message_id for m in burst]
    assert amended.burst[0].payload == TextPayload(body="P12346")
    assert amended.burst[1].type is MessageType.REVOKE
    assert [m.payload.original_message_id for m in amended.late] == ["wamid.B", "wamid.GONE"]  # type: ignore[union-attr]
    parts = render_burst(amended.burst, ignore_stickers=True, ignore_reactions=True)
    assert [p.text for p in parts] == ["P12346"]  # type: ignore[union-attr]


class _History:
    def __init__(self, messages: Sequence[InboundMessage]) -> None:
        self._messages = list(messages)

    async def messages(self, customer_key: str) -> list[InboundMessage]:
        return [m for m in self._messages if m.customer_key == customer_key]


async def _flow(earlier: Sequence[InboundMessage], chat: FakeChat, delivered: list[Any]):
    session = make_session(
        business=BUSINESS, customer=WA_ID, initial_contact_id="contact-1", wa_id=WA_ID
    )

    async def deliver(burst: Sequence[InboundMessage]) -> None:
        delivered.append([m.message_id for m in burst])

    return Amendments(
        deliver=deliver, sessions=_Store(session), history=_History(earlier), notes=chat
    )


class _Store(FakeSessions):
    async def get(self, customer_key: str):
        return self.by_customer.get(customer_key)


async def test_late_edits_and_deletions_are_told_once_even_when_the_burst_is_replayed():
    original, first_edit, second_edit, deleted = parsed(
        text("P12354", id="wamid.A", timestamp=1772360130),
        edit("wamid.A", "P12345", id="wamid.E1"),
        edit("wamid.A", "P12346", id="wamid.E2"),
        revoke("wamid.A", id="wamid.R1"),
    )
    chat = FakeChat()
    delivered: list[list[str]] = []
    flow = await _flow([original, first_edit, second_edit, deleted], chat, delivered)

    await flow.deliver([first_edit])
    await flow.deliver([second_edit, deleted])
    await flow.deliver([second_edit, deleted])  # replayed after a crash

    assert [n.text for n in chat.notes] == [
        "✏️ The customer edited: «P12354» → «P12345»",
        "✏️ The customer edited: «P12345» → «P12346»",
        "🗑️ The customer deleted the message they sent at 2026-03-01 10:15 UTC.",
    ]
    assert chat.note_attempts == 5
    assert delivered == [["wamid.E1"], ["wamid.E2", "wamid.R1"], ["wamid.E2", "wamid.R1"]]
