"""Issue 13 row 2 (`note` policy): an agent's reply after the customer's 24-hour window is
not sent; the agent is told at once, in the bridge's own voice, when the window closed.

The customer's last message is stamped 25 hours ago (WhatsApp time), which both the bridge
and the simulator's WhatsApp read as a closed window.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx

from tests.e2e.conftest import Sandbox, text
from tests.support.waiting import eventually

WA_ID = "5215512345678"


async def test_a_reply_after_the_window_is_not_sent_and_the_agent_is_told_within_a_second(
    bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    last = int(time.time()) - 25 * 3600
    await world.send(WA_ID, {**text("I wrote yesterday"), "timestamp": last})

    async def stored() -> dict[str, Any] | None:
        sessions = (await bridge.get("/admin/sessions")).json()["sessions"]
        contacts = await world.contacts()
        return contacts[0] if sessions and contacts else None

    contact = await eventually(stored)
    posted = await sandbox.post(
        f"/sandbox/contacts/{contact['contactId']}/agent/messages",
        json={"text": "Sorry for the wait"},
    )
    posted.raise_for_status()
    agent_item = posted.json()

    async def told() -> dict[str, Any] | None:
        [chat] = await world.contacts()
        notes = [
            i
            for i in chat["transcript"]
            if i["participantRole"] == "CUSTOM_BOT" and (i["content"] or "").startswith("⏰")
        ]
        return notes[0] if notes else None

    note = await eventually(told)
    assert "24-hour window closed at" in note["content"]
    assert note["displayName"] == "WhatsApp"
    took = datetime.fromisoformat(note["time"]) - datetime.fromisoformat(agent_item["time"])
    print(f"window-closed note {took.total_seconds():.3f} s after the agent's message")
    assert took.total_seconds() < 1.0, took
    assert not [m for m in await world.outbox() if m["type"] == "text"]
    # The operator's view says so too, and names the bridge's participant.
    [session] = (await bridge.get("/admin/sessions")).json()["sessions"]
    assert session["window_open"] is False
    assert session["window_open_until"] == last + 24 * 3600
    assert session["bot_participant_id"] == note["participantId"]
    assert session["bot_participant_token"] == "[redacted]"
