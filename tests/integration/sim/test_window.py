"""WhatsApp's 24-hour service window in the simulator: free-form sends after it fail later
with 131047, as Meta does (accepted first, never refused up front); templates go through."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.local import constants
from tests.support.eum import statuses_in

ORIGINATION = "phone-number-id-" + constants.EUM_PHONE_NUMBER_HEX
WA_ID = "5215512345678"


@pytest.fixture
async def inbound(resources, kit):
    return resources.queue_url(resources.plan.inbound_queue.name)


async def _send(kit, message: dict[str, Any]) -> str:
    answer = await kit.clients.social.send_whatsapp_message(
        originationPhoneNumberId=ORIGINATION,
        message=json.dumps(
            {"messaging_product": "whatsapp", "to": "+" + WA_ID, **message}
        ).encode(),
        metaApiVersion="v20.0",
    )
    message_id: str = answer["messageId"]
    return message_id


TEXT = {"type": "text", "text": {"body": "are you there?"}}
# A template the sandbox's WABA has approved (service/local/sim/templates.py SEEDED).
TEMPLATE = {"type": "template", "template": {"name": "welcome", "language": {"code": "en_US"}}}


async def test_a_free_form_send_after_the_window_is_accepted_then_fails_with_131047(kit, inbound):
    said = await kit.sandbox.post(
        f"/sandbox/customers/{WA_ID}/messages", json={"type": "text", "text": {"body": "hi"}}
    )
    said.raise_for_status()
    await kit.drain(inbound, 1)  # the customer's message
    inside = await _send(kit, TEXT)
    await kit.advance_clock(24 * 3600 + 1)

    outside = await _send(kit, TEXT)
    template = await _send(kit, TEMPLATE)

    assert outside.startswith("wamid.")
    [failed] = statuses_in(await kit.drain(inbound, 1))
    assert failed["id"] == outside
    assert failed["status"] == "failed"
    assert failed["errors"][0]["code"] == 131047
    await kit.assert_quiet(inbound)  # nothing for the send inside the window or the template
    assert {inside, template}.isdisjoint({failed["id"]})


async def test_a_customer_who_never_wrote_has_no_window(kit, inbound):
    sent = await _send(kit, TEXT)
    [failed] = statuses_in(await kit.drain(inbound, 1))
    assert (failed["id"], failed["errors"][0]["code"]) == (sent, 131047)
