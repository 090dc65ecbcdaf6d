"""Issue 13 row 6: a customer who changes number or user id mid-conversation stays in one chat.

System message shapes as Meta sends them (client libraries' fixtures): `user_changed_number`
carries the new number in `system.wa_id`; `user_changed_user_id` the new BSUID in
`system.user_id` and the old one in `previous_user_id`.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import Sandbox, text
from tests.support.waiting import eventually

OLD_NUMBER = "5215512345678"
NEW_NUMBER = "5215587654321"


async def _texts(world: Sandbox, last: str) -> list[tuple[str, str]]:
    """The customer's items once one of them ends with `last`."""

    async def enough() -> list[tuple[str, str]] | None:
        found = await world.customer_messages()
        return found if any(content.endswith(last) for _, content in found) else None

    result: list[tuple[str, str]] = await eventually(enough)
    return result


async def _joined(world: Sandbox) -> dict[str, Any]:
    async def connected() -> dict[str, Any] | None:
        contacts = await world.contacts()
        return contacts[0] if contacts and contacts[0]["state"] == "CONNECTED" else None

    contact: dict[str, Any] = await eventually(connected)
    return contact


async def test_a_changed_number_continues_in_the_same_chat_and_replies_go_to_it(
    bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    await world.send(OLD_NUMBER, text("my order is late"))
    await _texts(world, "my order is late")

    async def stored() -> bool:
        return bool((await bridge.get("/admin/sessions")).json()["sessions"])

    await eventually(stored)  # the chat is stored: the change moves it at intake
    change = {
        "type": "system",
        "system": {
            "body": f"User A changed from {OLD_NUMBER} to {NEW_NUMBER}",
            "wa_id": NEW_NUMBER,
            "type": "user_changed_number",
        },
    }
    await world.send(OLD_NUMBER, change)
    await world.send(NEW_NUMBER, text("writing from my new phone"))

    found = await _texts(world, "writing from my new phone")
    assert len({contact for contact, _ in found}) == 1
    contacts = await world.contacts()
    assert len(contacts) == 1, "no second chat"
    # The agent's reply reaches the customer's new number.
    contact = await _joined(world)
    await sandbox.post(
        f"/sandbox/contacts/{contact['contactId']}/agent/messages", json={"text": "Got it"}
    )

    async def replied() -> dict[str, Any] | None:
        sent = [m for m in await world.outbox() if m["type"] == "text"]
        return sent[0] if sent else None

    reply = await eventually(replied)
    assert reply["message"]["to"].lstrip("+") == NEW_NUMBER


async def test_a_changed_user_id_continues_in_the_same_chat(bridge, world: Sandbox):
    """The change comes in the customer's first burst, before any chat is stored: the new
    identity points at the old one until that burst's chat exists and can be moved."""
    old, new = "US.13491208655302741918", "US.99991208655302741918"
    await world.send(old, text("hello, username here"))
    change = {
        "type": "system",
        "system": {
            "body": f"User changed from {old} to {new}",
            "user_id": new,
            "previous_user_id": old,
            "type": "user_changed_user_id",
        },
    }
    await world.send(old, change)
    await world.send(new, text("still me"))

    found = await _texts(world, "still me")
    assert len({contact for contact, _ in found}) == 1
    assert len(await world.contacts()) == 1, "no second chat"
