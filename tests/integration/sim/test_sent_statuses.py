"""WhatsApp's `sent` statuses in the simulator (`whatsapp_sent_statuses`), and the
`biz_opaque_callback_data` a send carries, echoed in every status of that message."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from service.local import constants
from tests.support.eum import statuses_in

ORIGINATION = "phone-number-id-" + constants.EUM_PHONE_NUMBER_HEX
WA_ID = "5215512345679"


@pytest.fixture
async def inbound(resources, kit):
    queue = resources.queue_url(resources.plan.inbound_queue.name)
    said = await kit.sandbox.post(
        f"/sandbox/customers/{WA_ID}/messages", json={"type": "text", "text": {"body": "hi"}}
    )
    said.raise_for_status()
    await kit.drain(queue, 1)  # the customer's message opens the window
    return queue


async def _send(kit, **extra: Any) -> str:
    message: dict[str, Any] = {"messaging_product": "whatsapp", "to": "+" + WA_ID, "type": "text"}
    message |= {"text": {"body": "on its way"}, **extra}
    answer = await kit.clients.social.send_whatsapp_message(
        originationPhoneNumberId=ORIGINATION,
        message=json.dumps(message).encode(),
        metaApiVersion="v20.0",
    )
    message_id: str = answer["messageId"]
    return message_id


async def test_every_accepted_message_is_reported_sent_with_its_callback_data(kit, inbound):
    (
        await kit.sandbox.post("/sandbox/config", json={"whatsapp_sent_statuses": True})
    ).raise_for_status()

    tagged = await _send(kit, biz_opaque_callback_data="claim:item-1#0")
    plain = await _send(kit)

    statuses = statuses_in(await kit.drain(inbound, 2))
    by_id = {status["id"]: status for status in statuses}
    assert by_id[tagged]["status"] == by_id[plain]["status"] == "sent"
    assert by_id[tagged]["biz_opaque_callback_data"] == "claim:item-1#0"
    assert "biz_opaque_callback_data" not in by_id[plain]


async def test_statuses_asked_for_echo_the_callback_data_and_none_come_unasked(kit, inbound):
    tagged = await _send(kit, biz_opaque_callback_data="claim:item-2#0")
    await kit.assert_quiet(inbound)  # off by default: no `sent` status

    answer = await kit.sandbox.post(
        "/sandbox/whatsapp/statuses", json={"messageId": tagged, "status": "delivered"}
    )
    answer.raise_for_status()
    [delivered] = statuses_in(await kit.drain(inbound, 1))
    assert delivered["biz_opaque_callback_data"] == "claim:item-2#0"


async def test_callback_data_over_512_characters_is_refused(kit, inbound):
    with pytest.raises(ClientError) as refused:
        await _send(kit, biz_opaque_callback_data="x" * 513)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert await _send(kit, biz_opaque_callback_data="x" * 512)
