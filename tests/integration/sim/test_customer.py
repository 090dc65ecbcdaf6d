"""The customer: EUM Social events on the inbound topic, checked against reference §3.1."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from typing import Any

import pytest

from service.local import constants

WA_ID = "5215512345678"
BSUID = "MX.1234567890"
ORIGINATION = "phone-number-id-" + constants.EUM_PHONE_NUMBER_HEX
RFC3339_NS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


@pytest.fixture
async def inbound(resources, kit):
    """The bridge's inbound queue (subscribed to the inbound topic by the bootstrap)."""
    config = (await kit.sandbox.get("/sandbox/config")).json()
    assert config["inbound_topic_arn"] == resources.inbound_topic_arn
    return resources.queue_url(resources.plan.inbound_queue.name)


async def _say(kit, body, wa_id: str = WA_ID) -> list[str]:
    answer = await kit.sandbox.post(f"/sandbox/customers/{wa_id}/messages", json=body)
    assert answer.status_code == 200, answer.text
    ids: list[str] = answer.json()["messageIds"]
    return ids


def _value(envelope) -> tuple[dict[str, Any], dict[str, Any]]:
    event = json.loads(envelope["Message"])
    entry = json.loads(event["whatsAppWebhookEntry"])
    [change] = entry["changes"]
    assert change["field"] == "messages"
    return event, change["value"]


async def test_text_message_is_an_eum_event_of_the_reference_shape(kit, inbound):
    before = int(time.time())
    [message_id] = await _say(
        kit, {"type": "text", "text": {"body": "hola"}, "profile_name": "Ana"}
    )

    [envelope] = await kit.drain(inbound, 1)
    event, value = _value(envelope)
    assert set(event) == {
        "context",
        "whatsAppWebhookEntry",
        "aws_account_id",
        "message_timestamp",
        "messageId",
    }
    assert isinstance(event["whatsAppWebhookEntry"], str)
    assert json.loads(event["whatsAppWebhookEntry"])["id"] == constants.WABA_ID
    assert event["context"] == {
        "MetaWabaIds": [{"wabaId": constants.WABA_ID, "arn": constants.WABA_ARN}],
        "MetaPhoneNumberIds": [
            {
                "metaPhoneNumberId": constants.BUSINESS_PHONE_NUMBER_ID,
                "arn": constants.BUSINESS_PHONE_NUMBER_ARN,
            }
        ],
    }
    assert event["aws_account_id"] == constants.ACCOUNT_ID
    assert RFC3339_NS.match(event["message_timestamp"])
    uuid.UUID(event["messageId"])

    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"] == {
        "display_phone_number": constants.BUSINESS_DISPLAY_NUMBER,
        "phone_number_id": constants.BUSINESS_PHONE_NUMBER_ID,
    }
    assert value["contacts"] == [{"profile": {"name": "Ana"}, "wa_id": WA_ID}]
    [message] = value["messages"]
    assert message["from"] == WA_ID
    assert message["id"] == message_id
    assert message_id.startswith("wamid.")
    assert message["type"] == "text"
    assert message["text"] == {"body": "hola"}
    assert isinstance(message["timestamp"], str)
    assert int(message["timestamp"]) >= before


async def test_a_burst_publishes_one_event_per_message_in_order(kit, inbound):
    ids = await _say(
        kit,
        [
            {"type": "text", "text": {"body": "Hello"}},
            {"type": "text", "text": {"body": "I need help"}},
            {"type": "text", "text": {"body": "with my order"}},
        ],
    )
    envelopes = await kit.drain(inbound, 3)
    messages = [_value(envelope)[1]["messages"][0] for envelope in envelopes]
    assert [message["id"] for message in messages] == ids
    assert [message["text"]["body"] for message in messages] == [
        "Hello",
        "I need help",
        "with my order",
    ]
    assert len(set(ids)) == 3
    listed = (await kit.sandbox.get("/sandbox/whatsapp/inbound")).json()["messages"]
    assert [record["messageId"] for record in listed] == ids


async def test_delay_ms_spaces_the_messages(kit, inbound):
    started = time.monotonic()
    await _say(
        kit,
        [
            {"type": "text", "text": {"body": "a"}},
            {"type": "text", "text": {"body": "b"}, "delay_ms": 300},
        ],
    )
    assert time.monotonic() - started >= 0.3
    assert len(await kit.drain(inbound, 2)) == 2


async def test_reusing_an_id_replays_a_duplicate(kit, inbound):
    [first] = await _say(kit, {"type": "text", "text": {"body": "hola"}})
    [again] = await _say(kit, {"type": "text", "text": {"body": "hola"}, "id": first})
    assert again == first
    envelopes = await kit.drain(inbound, 2)
    ids = [_value(envelope)[1]["messages"][0]["id"] for envelope in envelopes]
    event_ids = {json.loads(envelope["Message"])["messageId"] for envelope in envelopes}
    assert ids == [first, first]
    assert len(event_ids) == 2  # EUM's own event id differs between the two deliveries


async def test_bsuid_only_customer_has_no_phone_fields(kit, inbound):
    await _say(kit, {"type": "text", "text": {"body": "hola"}, "username": "ana.r"}, wa_id=BSUID)
    [envelope] = await kit.drain(inbound, 1)
    _, value = _value(envelope)
    [message] = value["messages"]
    assert "from" not in message
    assert message["from_user_id"] == BSUID
    assert value["contacts"] == [
        {"profile": {"name": "Sandbox Customer", "username": "ana.r"}, "user_id": BSUID}
    ]


async def test_phone_customer_with_bsuid_carries_both(kit, inbound):
    await _say(kit, {"type": "text", "text": {"body": "hola"}, "bsuid": BSUID})
    [envelope] = await kit.drain(inbound, 1)
    _, value = _value(envelope)
    assert value["messages"][0]["from"] == WA_ID
    assert value["messages"][0]["from_user_id"] == BSUID
    assert value["contacts"][0]["wa_id"] == WA_ID
    assert value["contacts"][0]["user_id"] == BSUID

    await _say(kit, {"type": "text", "text": {"body": "x"}, "bsuid": BSUID, "bsuid_only": True})
    [envelope] = await kit.drain(inbound, 1)
    _, value = _value(envelope)
    assert "from" not in value["messages"][0]
    assert "wa_id" not in value["contacts"][0]


async def test_media_messages_get_mime_type_sha256_and_filename(kit, inbound):
    data = b"%PDF-1.4 contrato"
    uploaded = await kit.sandbox.post(
        f"/sandbox/customers/{WA_ID}/media",
        content=data,
        headers={"Content-Type": "application/pdf"},
        params={"filename": "contrato.pdf"},
    )
    media_id = uploaded.json()["mediaId"]
    voice = await kit.sandbox.post(
        f"/sandbox/customers/{WA_ID}/media",
        content=b"OggS",
        headers={"Content-Type": "audio/ogg; codecs=opus"},
    )
    await _say(
        kit,
        [
            {"type": "document", "document": {"id": media_id, "caption": "mi contrato"}},
            {"type": "audio", "audio": {"id": voice.json()["mediaId"]}},
        ],
    )

    document, audio = (
        _value(envelope)[1]["messages"][0] for envelope in await kit.drain(inbound, 2)
    )
    assert document["document"] == {
        "id": media_id,
        "caption": "mi contrato",
        "mime_type": "application/pdf",
        "sha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
        "filename": "contrato.pdf",
    }
    assert audio["audio"]["mime_type"] == "audio/ogg; codecs=opus"
    assert audio["audio"]["voice"] is True


@pytest.mark.parametrize(
    "spec",
    [
        {
            "type": "location",
            "location": {"latitude": 19.43, "longitude": -99.13, "name": "Zócalo"},
        },
        {
            "type": "contacts",
            "contacts": [
                {"name": {"formatted_name": "Luis"}, "phones": [{"phone": "+5215500000000"}]}
            ],
        },
        {
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Sí"}},
        },
        {"type": "button", "button": {"text": "Confirmar", "payload": "CONFIRM"}},
        {"type": "reaction", "reaction": {"message_id": "wamid.OUR==", "emoji": "👍"}},
        {"type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown"}]},
        {
            "type": "text",
            "text": {"body": "este"},
            "context": {"from": constants.BUSINESS_DISPLAY_NUMBER, "id": "wamid.PREV=="},
        },
    ],
    ids=lambda spec: spec["type"] + ("_reply" if "context" in spec else ""),
)
async def test_other_message_types_pass_through(kit, inbound, spec):
    await _say(kit, spec)
    [envelope] = await kit.drain(inbound, 1)
    [message] = _value(envelope)[1]["messages"]
    for key, part in spec.items():
        assert message[key] == part


@pytest.mark.parametrize(
    ("path_id", "body", "status"),
    [
        (WA_ID, {"text": {"body": "no type"}}, 400),
        (WA_ID, {"type": "text"}, 400),
        (WA_ID, {"type": "image", "image": {"id": "404404"}}, 404),
        (WA_ID, [], 400),
        ("ana", {"type": "text", "text": {"body": "x"}}, 400),
        (WA_ID, {"type": "text", "text": {"body": "x"}, "business": "999"}, 404),
        (WA_ID, {"type": "text", "text": {"body": "x"}, "delay_ms": -1}, 400),
    ],
)
async def test_bad_customer_messages_are_refused(kit, path_id, body, status):
    answer = await kit.sandbox.post(f"/sandbox/customers/{path_id}/messages", json=body)
    assert answer.status_code == status
    assert (await kit.sandbox.get("/sandbox/whatsapp/inbound")).json()["messages"] == []


async def test_messages_to_a_second_business_number(kit, inbound):
    hex_id = "00112233445566778899aabbccddeeff"
    arn = f"arn:aws:social-messaging:us-east-1:123456789012:phone-number-id/{hex_id}"
    await kit.sandbox.post(
        "/sandbox/config",
        json={
            "add_business_numbers": [
                {
                    "phone_number_id": "300000000000003",
                    "display_phone_number": "15550002222",
                    "arn": arn,
                }
            ]
        },
    )
    await _say(kit, {"type": "text", "text": {"body": "x"}, "business": "300000000000003"})
    [envelope] = await kit.drain(inbound, 1)
    event, value = _value(envelope)
    assert value["metadata"]["phone_number_id"] == "300000000000003"
    assert event["context"]["MetaPhoneNumberIds"][0]["arn"] == arn
    # The bridge replies from that number through its EUM id.
    await kit.clients.social.send_whatsapp_message(
        originationPhoneNumberId=f"phone-number-id-{hex_id}",
        message=json.dumps(
            {"messaging_product": "whatsapp", "to": WA_ID, "text": {"body": "y"}}
        ).encode(),
        metaApiVersion="v20.0",
    )
    [entry] = (await kit.sandbox.get("/sandbox/whatsapp/outbox")).json()["messages"]
    assert entry["businessPhoneNumberId"] == "300000000000003"


async def _bridge_sends(kit, to: str = WA_ID, *, field: str = "to", inbound=None) -> str:
    """A send inside the customer's service window (the customer wrote first, and that
    event is drained from `inbound`), so no automatic 131047 follows it."""
    if inbound is not None:
        await _say(kit, {"type": "text", "text": {"body": "hi"}}, wa_id=to.lstrip("+"))
        await kit.drain(inbound, 1)
    answer = await kit.clients.social.send_whatsapp_message(
        originationPhoneNumberId=ORIGINATION,
        message=json.dumps(
            {"messaging_product": "whatsapp", field: to, "type": "text", "text": {"body": "hola"}}
        ).encode(),
        metaApiVersion="v20.0",
    )
    message_id: str = answer["messageId"]
    return message_id


async def test_delivered_and_read_statuses(kit, inbound):
    message_id = await _bridge_sends(kit, "+" + WA_ID, inbound=inbound)
    for status in ("delivered", "read"):
        answer = await kit.sandbox.post(
            "/sandbox/whatsapp/statuses", json={"messageId": message_id, "status": status}
        )
        assert answer.status_code == 200

    envelopes = await kit.drain(inbound, 2)
    statuses = [_value(envelope)[1] for envelope in envelopes]
    for value, status in zip(statuses, ("delivered", "read"), strict=True):
        assert "messages" not in value
        assert value["metadata"]["phone_number_id"] == constants.BUSINESS_PHONE_NUMBER_ID
        [item] = value["statuses"]
        assert item["id"] == message_id
        assert item["status"] == status
        assert item["recipient_id"] == WA_ID
        assert item["timestamp"].isdigit()
        assert item["pricing"]["pricing_model"] == "PMP"
        assert "errors" not in item


async def test_failed_status_carries_the_meta_error(kit, inbound):
    message_id = await _bridge_sends(kit, inbound=inbound)
    await kit.sandbox.post(
        "/sandbox/whatsapp/statuses",
        json={"messageId": message_id, "status": "failed", "errorCode": 131047},
    )
    await kit.sandbox.post(
        "/sandbox/whatsapp/statuses",
        json={
            "messageId": message_id,
            "status": "failed",
            "errorCode": 123456,
            "errorDetails": "who knows",
        },
    )
    known, unknown = (
        _value(envelope)[1]["statuses"][0] for envelope in await kit.drain(inbound, 2)
    )
    assert known["status"] == "failed"
    assert known["errors"] == [
        {
            "code": 131047,
            "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": {"details": "Re-engagement message"},
        }
    ]
    assert "pricing" not in known
    assert unknown["errors"][0]["code"] == 123456
    assert unknown["errors"][0]["title"] == "Message failed to send"
    assert unknown["errors"][0]["error_data"] == {"details": "who knows"}


async def test_status_for_a_bsuid_recipient_names_the_user_id(kit, inbound):
    message_id = await _bridge_sends(kit, BSUID, field="recipient", inbound=inbound)
    await kit.sandbox.post(
        "/sandbox/whatsapp/statuses", json={"messageId": message_id, "status": "sent"}
    )
    [envelope] = await kit.drain(inbound, 1)
    [item] = _value(envelope)[1]["statuses"]
    assert item["recipient_user_id"] == BSUID
    assert "recipient_id" not in item


async def test_status_for_an_unknown_message_is_404(kit, inbound):
    answer = await kit.sandbox.post(
        "/sandbox/whatsapp/statuses", json={"messageId": "wamid.nope", "status": "read"}
    )
    assert answer.status_code == 404
    await kit.assert_quiet(inbound)


async def test_publishing_to_a_missing_topic_is_reported(kit):
    # No `resources` here: the inbound topic does not exist in the emptied embedded AWS.
    answer = await kit.sandbox.post(
        f"/sandbox/customers/{WA_ID}/messages", json={"type": "text", "text": {"body": "x"}}
    )
    assert answer.status_code == 502
    assert "inbound topic" in answer.json()["error"]


@pytest.mark.parametrize(
    ("mime", "data", "kind", "status"),
    [
        ("image/jpeg", b"\xff" * (5 * 1024 * 1024 + 1), "image", 413),
        ("image/jpeg", b"\xff" * (5 * 1024 * 1024), "image", 200),
        ("image/jpeg", b"\xff" * (25 * 1024 * 1024), "document", 200),  # a photo as a file
        ("image/webp", b"RIFF....WEBPVP8 " + b"\x00" * 110_000, "sticker", 413),  # static
        ("image/webp", b"RIFF....WEBPVP8XANIM" + b"\x00" * 110_000, "sticker", 200),  # animated
        ("audio/ogg; codecs=opus", b"\x00" * (16 * 1024 * 1024 + 1), "audio", 413),
    ],
)
@pytest.mark.usefixtures("resources")  # the inbound topic the sends publish to
async def test_customer_media_respects_whatsapps_size_limits(kit, mime, data, kind, status):
    # Any file up to 100 MB uploads (it may travel as a document); the message type's
    # own limit is checked when it is sent as that type.
    uploaded = await kit.sandbox.post(
        f"/sandbox/customers/{WA_ID}/media", content=data, headers={"Content-Type": mime}
    )
    assert uploaded.status_code == 200, uploaded.text
    media_id = uploaded.json()["mediaId"]
    sent = await kit.sandbox.post(
        f"/sandbox/customers/{WA_ID}/messages",
        json={"type": kind, kind: {"id": media_id}},
    )
    assert sent.status_code == status, sent.text


async def test_nothing_over_a_documents_100_mb_uploads(kit):
    uploaded = await kit.sandbox.post(
        f"/sandbox/customers/{WA_ID}/media",
        content=b"\0" * (100 * 1024 * 1024 + 1),
        headers={"Content-Type": "application/pdf"},
    )
    assert uploaded.status_code == 413
