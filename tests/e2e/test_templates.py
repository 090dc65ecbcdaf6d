"""Issue 13 rows 2-4 against the sandbox: the `template` window policy (one re-engagement
template, the agent's messages held and delivered in order when the customer replies,
expired ones reported), `/templates` and `/template` in any agent workspace, and outreach
whose reply opens one chat that names it.

The simulator's business number has the templates of `service/local/sim/templates.py`:
`reengage` (en_US, es_MX; 2 body parameters), `order_update` (1 header + 2 body),
`welcome` (none) and `spring_sale` (pending review).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.e2e.conftest import Sandbox, bridge_settings, text
from tests.support.bridge import RunningBridge
from tests.support.waiting import eventually

WA_ID = "5215512345678"


async def _closed_chat(world: Sandbox, bridge: httpx.AsyncClient) -> dict[str, Any]:
    """A chat whose customer last wrote 25 hours ago: the window is closed."""
    await world.send(WA_ID, {**text("I wrote yesterday"), "timestamp": int(time.time()) - 90_000})

    async def stored() -> dict[str, Any] | None:
        sessions = (await bridge.get("/admin/sessions")).json()["sessions"]
        contacts = await world.contacts()
        return contacts[0] if sessions and contacts else None

    contact: dict[str, Any] = await eventually(stored)
    return contact


async def _agent(sandbox: httpx.AsyncClient, contact: dict[str, Any], body: str) -> None:
    posted = await sandbox.post(
        f"/sandbox/contacts/{contact['contactId']}/agent/messages", json={"text": body}
    )
    posted.raise_for_status()


async def _notes_with(world: Sandbox, prefix: str, count: int = 1) -> list[str]:
    async def found() -> list[str] | None:
        notes = [content for _, content in await world.notes() if content.startswith(prefix)]
        return notes if len(notes) >= count else None

    notes: list[str] = await eventually(found)
    return notes


async def _session(bridge: httpx.AsyncClient) -> dict[str, Any]:
    [session] = (await bridge.get("/admin/sessions")).json()["sessions"]
    return dict(session)


async def _nothing_held(bridge: httpx.AsyncClient) -> dict[str, Any]:
    """The session once its held list is empty (removed just after the sends or the note)."""

    async def released() -> dict[str, Any] | None:
        session = await _session(bridge)
        return session if session["held"] == [] else None

    session: dict[str, Any] = await eventually(released)
    return session


async def test_a_closed_window_sends_one_template_holds_the_replies_and_delivers_them_in_order(
    sim, resources, world: Sandbox, sandbox: httpx.AsyncClient
):
    settings = bridge_settings(resources, reengage_template="reengage")
    assert settings.window_policy == "template"  # the default once a template is set
    async with RunningBridge(settings) as bridge:
        contact = await _closed_chat(world, bridge)
        await _agent(sandbox, contact, "Your refund was approved")
        await _agent(sandbox, contact, "It arrives in 3 days")
        held = await _notes_with(world, "⏸ Held", 2)
        assert "reengage" in held[0]

        sent = await world.outbox()
        [template] = [m for m in sent if m["type"] == "template"]
        assert not [m for m in sent if m["type"] == "text"]
        assert template["message"]["template"]["name"] == "reengage"
        body = template["message"]["template"]["components"][0]["parameters"]
        assert body[1]["text"] == "Agent"  # the agent's display name
        assert body[0]["text"]  # the customer's profile name
        session = await _session(bridge)
        assert session["window_open"] is False
        assert len(session["held"]) == 2
        assert session["reengage_template"] == "reengage"

        await world.send(WA_ID, text("Thanks, I'm back"))

        async def delivered() -> list[str] | None:
            texts = [
                m["message"]["text"]["body"] for m in await world.outbox() if m["type"] == "text"
            ]
            return texts if len(texts) >= 2 else None

        assert await eventually(delivered) == ["Your refund was approved", "It arrives in 3 days"]
        assert len([m for m in await world.outbox() if m["type"] == "template"]) == 1
        session = await _nothing_held(bridge)
        assert session["window_open"] is True
        assert len(await world.contacts()) == 1


async def test_held_replies_the_customer_never_comes_back_for_are_reported(
    sim, resources, world: Sandbox, sandbox: httpx.AsyncClient
):
    settings = bridge_settings(
        resources, reengage_template="reengage", held_ttl_s=2.0, held_sweep_interval_s=0.5
    )
    async with RunningBridge(settings) as bridge:
        contact = await _closed_chat(world, bridge)
        await _agent(sandbox, contact, "Are you still interested?")
        await _notes_with(world, "⏸ Held")
        [expired] = await _notes_with(world, "⌛ Not delivered")
        assert "1 held message" in expired
        await _nothing_held(bridge)
        assert not [m for m in await world.outbox() if m["type"] == "text"]


async def test_the_note_policy_sends_nothing_and_no_template(
    sim, resources, world: Sandbox, sandbox: httpx.AsyncClient
):
    settings = bridge_settings(resources, reengage_template="reengage", window_closed="note")
    async with RunningBridge(settings) as bridge:
        contact = await _closed_chat(world, bridge)
        await _agent(sandbox, contact, "Hello?")
        await _notes_with(world, "⏰ Not sent to WhatsApp")
        assert not [m for m in await world.outbox() if m["type"] in {"text", "template"}]


async def test_agents_list_and_send_templates_and_a_wrong_count_sends_nothing(
    bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    await world.send(WA_ID, text("Where is my order?"))

    async def joined() -> dict[str, Any] | None:
        contacts = await world.contacts()
        sessions = (await bridge.get("/admin/sessions")).json()["sessions"]
        return contacts[0] if contacts and sessions else None

    contact = await eventually(joined)
    await _agent(sandbox, contact, "/templates")
    [listing] = await _notes_with(world, "📋")
    assert "reengage (en_US, utility): 2 parameters" in listing
    assert "reengage (es_MX, utility): 2 parameters" in listing
    assert "order_update (en_US, utility): 3 parameters" in listing
    assert "welcome (en_US, marketing): 0 parameters" in listing
    assert "spring_sale" not in listing  # pending review: nobody can send it

    await _agent(sandbox, contact, "/template order_update A-123 | shipped")
    [wrong] = await _notes_with(world, "⚠️ Template not sent")
    assert "takes 3 parameters, you gave 2" in wrong
    await _agent(sandbox, contact, "/template order_update en_US A-123 | A-123 | shipped")
    [sent_note] = await _notes_with(world, "✅ Template order_update sent")
    assert "Your order A-123 is shipped." in sent_note

    templates = [m for m in await world.outbox() if m["type"] == "template"]
    assert len(templates) == 1
    assert templates[0]["message"]["template"]["language"] == {"code": "en_US"}
    # Commands are for the bridge: the customer never sees them.
    assert not [m for m in await world.outbox() if m["type"] == "text"]


async def test_outreach_sends_a_template_and_the_reply_opens_one_chat_naming_it(
    bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    config = (await sandbox.get("/sandbox/config")).json()
    business = config["business_numbers"][0]["eumId"]
    request = {
        "business": business,
        "to": "+5215500000001",
        "template": "order_update",
        "language": "en_US",
        "parameters": ["B-7", "B-7", "ready for pickup"],
        "outreach_id": "campaign-42",
        "requested_by": "ops@example.com",
    }
    async with httpx.AsyncClient(base_url=str(bridge.base_url)) as anonymous:
        unauthorized = await anonymous.post("/admin/outreach", json=request)
    assert unauthorized.status_code == 401
    answer = await bridge.post("/admin/outreach", json=request)
    assert answer.status_code == 202, answer.text
    result = answer.json()
    assert result["outreach_id"] == "campaign-42"
    assert result["customer"].endswith("0001")
    assert "5215500000001" not in answer.text  # masked
    again = await bridge.post("/admin/outreach", json=request)  # a retried request
    assert again.status_code == 202
    assert again.json()["already_sent"] is True
    [template] = [m for m in await world.outbox() if m["type"] == "template"]
    assert template["recipient"].lstrip("+") == "5215500000001"

    wrong = await bridge.post(
        "/admin/outreach", json={**request, "outreach_id": "x", "parameters": []}
    )
    assert wrong.status_code == 409
    assert "takes 3 parameters" in wrong.json()["detail"]

    await world.send("5215500000001", text("Great, I'll come today"))

    async def chat() -> dict[str, Any] | None:
        contacts = await world.contacts()
        return contacts[0] if contacts else None

    contact = await eventually(chat)
    assert contact["attributes"]["outreachId"] == "campaign-42"
    assert contact["attributes"]["outreachTemplate"] == "order_update"
    assert contact["attributes"]["outreachRequestedBy"] == "ops@example.com"

    async def stored() -> dict[str, Any] | None:
        sessions = (await bridge.get("/admin/sessions")).json()["sessions"]
        return sessions[0] if sessions else None

    session = await eventually(stored)
    assert session["outreach_id"] == "campaign-42"
    # A live chat now: the next outreach to them is refused, its agent uses /template.
    busy = await bridge.post("/admin/outreach", json={**request, "outreach_id": "campaign-43"})
    assert busy.status_code == 409
    await world.send("5215500000001", text("one more thing"))

    async def two_texts() -> list[Any] | None:
        found = await world.customer_messages()
        return found if len(found) >= 2 else None

    assert len({contact_id for contact_id, _ in await eventually(two_texts)}) == 1
