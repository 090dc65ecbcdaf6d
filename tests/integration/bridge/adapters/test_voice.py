"""The bridge's own voice, against the simulator: one CUSTOM_BOT per chat, never the customer."""

from __future__ import annotations

from typing import Any

import pytest

from service.bridge.adapters.connect_config import ConnectConfig
from service.bridge.adapters.connection import ChatConnection
from service.bridge.adapters.ledger import DeliveryLedger
from service.bridge.adapters.sessions import SessionStore
from service.bridge.adapters.voice import BridgeVoice
from service.bridge.events.eum import parse_eum_event
from service.bridge.flows.deliver import InboundDelivery
from service.local import constants
from tests.support.eum import eum_event, text, wamid

CONFIG = ConnectConfig(
    instance_id=constants.CONNECT_INSTANCE_ID,
    contact_flow_id=constants.CONTACT_FLOW_ID,
    chat_duration_minutes=60,
)
CUSTOMER_KEY = "200000000000002#5215512345678"


@pytest.fixture
def sessions(sim, resources, sim_clients) -> SessionStore:
    return SessionStore(dynamodb=sim_clients.dynamodb, table=resources.names.sessions_table)


@pytest.fixture
async def live_chat(sim, resources, sim_clients, connect_chat, sessions):
    """A chat opened by a real delivery, so the session is exactly what production stores."""
    ledger = DeliveryLedger(dynamodb=sim_clients.dynamodb, table=resources.names.idempotency_table)
    delivery = InboundDelivery(
        connect=connect_chat,
        connection=ChatConnection(connect=connect_chat, sessions=sessions),
        sessions=sessions,
        ledger=ledger,
        config=lambda: CONFIG,
    )
    await delivery.deliver(list(parse_eum_event(eum_event(text("hola", id=wamid()))).messages))
    session = await sessions.get(CUSTOMER_KEY)
    assert session is not None
    return session


def voice(connect_chat, sessions, name: str = "WhatsApp") -> BridgeVoice:
    return BridgeVoice(
        connect=connect_chat,
        sessions=sessions,
        instance_id=lambda: CONFIG.instance_id,
        display_name=name,
    )


async def contact(sandbox, contact_id: str) -> dict[str, Any]:
    response = await sandbox.get(f"/sandbox/contacts/{contact_id}")
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


async def test_notes_come_from_one_bot_participant_with_the_configured_name(
    connect_chat, sessions, live_chat, sandbox
):
    speaker = voice(connect_chat, sessions, name="Acme on WhatsApp")
    assert await speaker.say(live_chat, "⚠️ first", client_token="note-1")
    # A second note, from the stored session: the same participant, no second CreateParticipant.
    stored = await sessions.get(CUSTOMER_KEY)
    assert stored is not None
    assert stored.bot_participant_id is not None
    assert stored.bot_connection_token is not None
    assert await speaker.say(stored, "⚠️ second", client_token="note-2")
    # A replayed note (same token) adds nothing.
    assert await speaker.say(stored, "⚠️ second", client_token="note-2")

    record = await contact(sandbox, live_chat.contact_id)
    notes = [i for i in record["transcript"] if (i["content"] or "").startswith("⚠️")]
    assert [n["content"] for n in notes] == ["⚠️ first", "⚠️ second"]
    assert {n["participantRole"] for n in notes} == {"CUSTOM_BOT"}
    assert {n["displayName"] for n in notes} == {"Acme on WhatsApp"}
    assert {n["participantId"] for n in notes} == {stored.bot_participant_id}
    assert stored.bot_participant_id != live_chat.participant_id
    bots = [p for p in record["participants"] if p["role"] == "CUSTOM_BOT"]
    assert len(bots) == 1
    customer = [i for i in record["transcript"] if i["participantRole"] == "CUSTOMER"]
    assert all(not (i["content"] or "").startswith("⚠️") for i in customer)


async def test_two_workers_without_the_stored_bot_add_it_once(
    connect_chat, sessions, live_chat, sandbox
):
    # Both read the session before either stored the bot: the ClientToken makes it one.
    assert await voice(connect_chat, sessions).say(live_chat, "a", client_token="n-a")
    assert await voice(connect_chat, sessions).say(live_chat, "b", client_token="n-b")
    record = await contact(sandbox, live_chat.contact_id)
    assert [p["role"] for p in record["participants"]].count("CUSTOM_BOT") == 1


async def test_an_expired_bot_connection_is_renewed(connect_chat, sessions, live_chat, sandbox):
    speaker = voice(connect_chat, sessions)
    assert await speaker.say(live_chat, "before", client_token="n-1")
    expired = await sandbox.post("/sandbox/faults", json={"action": "expire_connection_tokens"})
    expired.raise_for_status()
    stored = await sessions.get(CUSTOMER_KEY)
    assert stored is not None
    assert await speaker.say(stored, "after", client_token="n-2")
    record = await contact(sandbox, live_chat.contact_id)
    said = [
        i["content"]
        for i in record["transcript"]
        if i["participantRole"] == "CUSTOM_BOT" and i["type"] == "MESSAGE"
    ]
    assert said == ["before", "after"]


async def test_an_ended_chat_takes_no_note(connect_chat, sessions, live_chat, sandbox):
    ended = await sandbox.post(f"/sandbox/contacts/{live_chat.contact_id}/end")
    ended.raise_for_status()
    assert not await voice(connect_chat, sessions).say(live_chat, "late", client_token="n-x")
