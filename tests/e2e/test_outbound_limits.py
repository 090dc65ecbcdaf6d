"""WhatsApp's limits on the outbound path: rate limits are paced retries, not agent notes;
a file too large for its WhatsApp type is not sent and the agent is told which one.

Same setting as `test_outbound.py`: the real bridge against the embedded AWS and the
simulator. Pacing is scaled down so a paced resend takes a fraction of a second.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from service.bridge.adapters.media import MIB
from tests.e2e.conftest import Sandbox, bridge_settings
from tests.e2e.test_outbound import WA_ID, _agent, _bodies, _chat, _outbox_of
from tests.support.bridge import RunningBridge
from tests.support.waiting import eventually

NOTE = "⚠️ Not delivered to WhatsApp"


@pytest.fixture
async def bridge(sim, resources) -> AsyncIterator[httpx.AsyncClient]:
    # No read ticks, reactions or typing indicators: every SendWhatsAppMessage is an agent
    # message, so an injected fault hits exactly the send under test.
    settings = bridge_settings(
        resources,
        whatsapp_mark_read="never",
        whatsapp_reaction_delivered="",
        whatsapp_reaction_failed="",
        outbound_typing_indicators=False,
        pacing_pair_burst=10.0,
        pacing_pair_interval_s=0.5,
        pacing_number_rate_per_s=5.0,
    )
    async with RunningBridge(settings) as admin:
        yield admin


async def _notes(world: Sandbox) -> list[str]:
    return [c for _, c in await world.notes() if c.startswith(NOTE)]


async def _status(sandbox: httpx.AsyncClient, message_id: str, code: int) -> None:
    body = {"messageId": message_id, "status": "failed", "errorCode": code}
    (await sandbox.post("/sandbox/whatsapp/statuses", json=body)).raise_for_status()


async def _fence_note(world: Sandbox, sandbox: httpx.AsyncClient, message_id: str) -> list[str]:
    """A failure that does become a note; once it shows, earlier statuses were handled."""
    await _status(sandbox, message_id, 131026)

    async def noted() -> list[str] | None:
        return await _notes(world) or None

    found: list[str] = await eventually(noted)
    return found


async def test_a_pair_rate_failed_status_resends_the_message_without_a_note(
    bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    contact = await _chat(world)
    await _agent(sandbox, contact["contactId"], text="Your parcel left the warehouse")
    [first] = await _outbox_of(world, 1)
    await _status(sandbox, first["messageId"], 131056)

    resent = await _outbox_of(world, 2)
    assert _bodies(resent) == ["Your parcel left the warehouse"] * 2
    assert resent[1]["messageId"] != first["messageId"]
    assert resent[1]["recipient"].lstrip("+") == WA_ID

    [note] = await _fence_note(world, sandbox, resent[1]["messageId"])
    assert "cannot deliver" in note, "only the fence's failure became a note"
    assert len(_bodies(await world.outbox())) == 2, "resent once, not again"


async def test_a_synchronous_rate_limit_refusal_is_retried_without_a_note(
    bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    contact = await _chat(world)
    fault = {
        "operation": "SendWhatsAppMessage",
        "error": "ValidationException",
        "message": "(#130429) Rate limit hit: Cloud API message throughput has been reached.",
        "count": 1,
    }
    (await sandbox.post("/sandbox/faults", json=fault)).raise_for_status()
    await _agent(sandbox, contact["contactId"], text="Checking your order now")

    [sent] = await _outbox_of(world, 1)
    assert _bodies([sent]) == ["Checking your order now"]
    [rule] = (await sandbox.get("/sandbox/faults")).json()["faults"]
    assert rule["injected"] == 1, "the first attempt was refused"

    [note] = await _fence_note(world, sandbox, sent["messageId"])
    assert "cannot deliver" in note, "the refusal itself added no note"
    assert _bodies(await world.outbox()) == ["Checking your order now"]


async def test_an_image_over_whatsapps_limit_is_not_sent_and_the_agent_is_told(
    bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    contact = await _chat(world)
    data = b"\x89PNG\r\n\x1a\n" + bytes(6 * MIB)  # images: 5 MB at most
    attachment: dict[str, Any] = {
        "name": "floor-plan.png",
        "contentType": "image/png",
        "contentBase64": base64.b64encode(data).decode(),
    }
    response = await sandbox.post(
        f"/sandbox/contacts/{contact['contactId']}/agent/attachments", json=attachment
    )
    response.raise_for_status()

    async def noted() -> list[str] | None:
        return await _notes(world) or None

    [note] = await eventually(noted)
    assert "floor-plan.png" in note
    assert "5.0 MB" in note

    await _agent(sandbox, contact["contactId"], text="fence")  # handled after the file
    sent = await _outbox_of(world, 1)
    assert [m["type"] for m in sent] == ["text"]
    assert _bodies(sent) == ["fence"]
    assert (await sandbox.get("/sandbox/whatsapp/media")).json()["media"] == []


async def test_a_whatsapp_outage_delays_the_agents_messages_and_loses_none(
    bridge, world: Sandbox, sandbox: httpx.AsyncClient, resources, aws_clients
):
    """Every send fails (5xx) for a while: the lane holds the agent's messages in order,
    nothing is parked or noted, and all of them go once WhatsApp answers again.

    The outage is 12 s here to keep the suite fast; the mechanism does not depend on its
    length up to `outbound_max_stuck_s` (1 h): retries back off to one a minute.
    """
    contact = await _chat(world)
    outage = {"operation": "SendWhatsAppMessage", "error": "InternalServerException", "rate": 1}
    (await sandbox.post("/sandbox/faults", json=outage)).raise_for_status()
    texts = [f"update {n} of 4" for n in range(1, 5)]
    for body in texts:
        await _agent(sandbox, contact["contactId"], text=body)

    async def refused_repeatedly() -> bool:
        [rule] = (await sandbox.get("/sandbox/faults")).json()["faults"]
        return bool(rule["injected"] >= 3)

    await eventually(refused_repeatedly, timeout_s=30)
    await asyncio.sleep(6)
    assert _bodies(await world.outbox()) == []
    (await sandbox.post("/sandbox/faults", json={"action": "clear"})).raise_for_status()

    sent = await _outbox_of(world, 4)
    assert _bodies(sent) == texts
    assert await _notes(world) == []
    dlq = resources.queue_url(resources.names.outbound_dlq)
    parked = await aws_clients.sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=0)
    assert parked.get("Messages", []) == []
