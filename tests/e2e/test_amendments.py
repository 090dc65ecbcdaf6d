"""Issue 13 row 5: the customer edits or deletes a message, before and after it reached the agent.

Meta's wire shapes (`edit.original_message_id` + the new message whole; `revoke` with the
original id) as client libraries' test suites carry them. The real bridge runs against the
embedded AWS and the simulator.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.e2e.conftest import QUIET_S, Sandbox, text
from tests.support.waiting import eventually

WA_ID = "5215512345678"


def edit(original_id: str, body: str) -> dict[str, Any]:
    return {
        "type": "edit",
        "edit": {
            "original_message_id": original_id,
            "message": {"type": "text", "text": {"body": body}},
        },
    }


def revoke(original_id: str) -> dict[str, Any]:
    return {"type": "revoke", "revoke": {"original_message_id": original_id}}


async def _delivered(world: Sandbox, count: int) -> list[str]:
    async def enough() -> list[str] | None:
        found = [content for _, content in await world.customer_messages()]
        return found if len(found) >= count else None

    result: list[str] = await eventually(enough)
    return result


async def _notes(world: Sandbox, count: int) -> list[str]:
    async def enough() -> list[str] | None:
        found = [content for _, content in await world.notes()]
        return found if len(found) >= count else None

    result: list[str] = await eventually(enough)
    return result


async def test_an_edit_of_a_buffered_message_replaces_it_in_place(bridge, world: Sandbox):
    [original] = await world.send(WA_ID, {**text("my order is P12354"), "id": "wamid.ORIG1"})
    await world.send(WA_ID, text("can you check it?"), edit(original, "my order is P12345"))

    [content] = await _delivered(world, 1)
    assert content == "my order is P12345\ncan you check it?"
    await asyncio.sleep(QUIET_S * 2)
    assert len(await world.customer_messages()) == 1
    assert await world.notes() == []


async def test_an_edit_of_a_delivered_message_becomes_a_note_with_both_texts(
    bridge, world: Sandbox
):
    [original] = await world.send(WA_ID, text("my order is P12354"))
    await _delivered(world, 1)

    await world.send(WA_ID, edit(original, "my order is P12345"))

    [note] = await _notes(world, 1)
    assert note == "✏️ The customer edited: «my order is P12354» → «my order is P12345»"
    await asyncio.sleep(QUIET_S * 2)
    assert [c for _, c in await world.customer_messages()] == ["my order is P12354"]
    assert len(await world.notes()) == 1
    assert not [m for m in await world.outbox() if m["type"] == "text"]


async def test_a_revoked_buffered_message_never_reaches_the_agent(bridge, world: Sandbox):
    [secret] = await world.send(WA_ID, text("my card is 4111 1111 1111 1111"))
    await world.send(WA_ID, revoke(secret), text("sorry, wrong chat. I need help"))

    [content] = await _delivered(world, 1)
    assert content == "sorry, wrong chat. I need help"
    await asyncio.sleep(QUIET_S * 2)
    assert await world.notes() == []


async def test_a_revoked_delivered_message_is_reported_without_its_content(bridge, world: Sandbox):
    [original] = await world.send(WA_ID, text("call me at 555 0101"))
    await _delivered(world, 1)

    await world.send(WA_ID, revoke(original))

    [note] = await _notes(world, 1)
    assert note.startswith("🗑️ The customer deleted the message they sent at ")
    assert "555" not in note
    await asyncio.sleep(QUIET_S * 2)
    assert len(await world.notes()) == 1
    assert len(await world.customer_messages()) == 1
