import json

import pytest

from service.bridge.events.codec import from_compact, to_compact
from service.bridge.events.eum import origination_id_from_arn, parse_eum_event
from service.bridge.events.whatsapp import (
    ButtonPayload,
    ContactsPayload,
    InteractiveReplyPayload,
    LocationPayload,
    MalformedEventError,
    MediaPayload,
    MessageType,
    OrderPayload,
    ReactionPayload,
    SystemPayload,
    TextPayload,
    UnsupportedPayload,
)

TYPE_CASES = [
    ("text", {"text": {"body": "hola"}}, TextPayload),
    (
        "image",
        {"image": {"id": "m1", "mime_type": "image/jpeg", "sha256": "x", "caption": "foto"}},
        MediaPayload,
    ),
    ("video", {"video": {"id": "m2", "mime_type": "video/mp4"}}, MediaPayload),
    (
        "audio",
        {"audio": {"id": "m3", "mime_type": "audio/ogg; codecs=opus", "voice": True}},
        MediaPayload,
    ),
    (
        "document",
        {"document": {"id": "m4", "mime_type": "application/pdf", "filename": "factura.pdf"}},
        MediaPayload,
    ),
    (
        "sticker",
        {"sticker": {"id": "m5", "mime_type": "image/webp", "animated": False}},
        MediaPayload,
    ),
    (
        "location",
        {"location": {"latitude": 19.4326, "longitude": -99.1332, "name": "Zócalo"}},
        LocationPayload,
    ),
    (
        "contacts",
        {
            "contacts": [
                {"name": {"formatted_name": "Luis R"}, "phones": [{"phone": "+1 555 0100"}]}
            ]
        },
        ContactsPayload,
    ),
    (
        "interactive",
        {"interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Sí"}}},
        InteractiveReplyPayload,
    ),
    (
        "interactive",
        {
            "interactive": {
                "type": "list_reply",
                "list_reply": {"id": "lp:Billing", "title": "Billing", "description": "Pay"},
            }
        },
        InteractiveReplyPayload,
    ),
    (
        "interactive",
        {
            "interactive": {
                "type": "nfm_reply",
                "nfm_reply": {"response_json": '{"size":"M"}', "body": "Sent", "name": "flow"},
            }
        },
        InteractiveReplyPayload,
    ),
    ("button", {"button": {"text": "Confirm", "payload": "CONFIRM"}}, ButtonPayload),
    ("reaction", {"reaction": {"message_id": "wamid.OUR==", "emoji": "👍"}}, ReactionPayload),
    (
        "order",
        {
            "order": {
                "catalog_id": "c1",
                "product_items": [
                    {
                        "product_retailer_id": "SKU1",
                        "quantity": 2,
                        "item_price": 9.5,
                        "currency": "MXN",
                    }
                ],
            }
        },
        OrderPayload,
    ),
    (
        "system",
        {"system": {"body": "changed number", "type": "customer_changed_number"}},
        SystemPayload,
    ),
    ("request_welcome", {}, type(None)),
    (
        "unsupported",
        {
            "unsupported": {"type": "poll"},
            "errors": [{"code": 131051, "title": "Message type unknown"}],
        },
        UnsupportedPayload,
    ),
]


@pytest.mark.parametrize(("wire_type", "fields", "payload_class"), TYPE_CASES)
def test_every_inbound_type_parses_and_round_trips(eum, wire_type, fields, payload_class):
    parsed = parse_eum_event(eum.sns_message(eum.message(wire_type, **fields)))
    (message,) = parsed.messages
    assert message.type == MessageType(wire_type)
    assert isinstance(message.payload, payload_class)
    compact = to_compact(message)
    assert from_compact(json.loads(json.dumps(compact))) == message


def test_text_message_fields(eum):
    reply = eum.text(
        "hola, necesito ayuda",
        id_="wamid.HBgAAA==",
        context={"from": "15550001111", "id": "wamid.PREVIOUS=="},
        referral={"source_url": "https://fb.me/ad", "headline": "Promo", "ctwa_clid": "c"},
        surprise_field={"new": "from Meta"},
    )
    (message,) = parse_eum_event(eum.sns_message(reply)).messages
    assert message.business.phone_number_id == eum.phone_number_id
    assert message.business.arn == eum.arn
    assert message.business.origination_id == "phone-number-id-bbbb2222"
    assert message.business.waba_id == "100000000000001"
    assert message.customer.wa_id == eum.wa_id
    assert message.customer.bsuid == eum.bsuid
    assert message.customer.profile_name == "Ana"
    assert message.customer_key == f"{eum.phone_number_id}#{eum.bsuid}"
    assert message.message_id == "wamid.HBgAAA=="
    assert message.timestamp == 1772360130
    assert message.payload == TextPayload(body="hola, necesito ayuda")
    assert message.context is not None
    assert message.context.message_id == "wamid.PREVIOUS=="
    assert message.referral is not None
    assert message.referral.headline == "Promo"


def test_customer_key_falls_back_to_wa_id_without_bsuid(eum):
    wire = eum.text("hi")
    del wire["from_user_id"]
    contacts = [{"profile": {"name": "Ana"}, "wa_id": eum.wa_id}]
    envelope = eum.envelope(eum.value(messages=[wire], contacts=contacts))
    (message,) = parse_eum_event(envelope).messages
    assert message.customer.bsuid is None
    assert message.customer_key == f"{eum.phone_number_id}#{eum.wa_id}"


def test_username_user_without_from_is_keyed_by_bsuid(eum):
    wire = eum.text("hi")
    del wire["from"]
    contacts = [{"profile": {"name": "Ana", "username": "ana.r"}, "user_id": eum.bsuid}]
    envelope = eum.envelope(eum.value(messages=[wire], contacts=contacts))
    (message,) = parse_eum_event(envelope).messages
    assert message.customer.wa_id is None
    assert message.customer.username == "ana.r"
    assert message.customer_key == f"{eum.phone_number_id}#{eum.bsuid}"


def test_bsuid_taken_from_contacts_when_message_lacks_it(eum):
    wire = eum.text("hi")
    del wire["from_user_id"]
    (message,) = parse_eum_event(eum.sns_message(wire)).messages
    assert message.customer.bsuid == eum.bsuid


def test_unknown_message_type_becomes_unsupported(eum):
    (message,) = parse_eum_event(eum.sns_message(eum.message("poll_v9", poll_v9={}))).messages
    assert message.type is MessageType.UNSUPPORTED
    assert message.wire_type == "poll_v9"
    assert message.payload == UnsupportedPayload(type="poll_v9")


def test_status_updates(eum):
    failed = {
        "id": "wamid.OUR_REPLY==",
        "status": "failed",
        "timestamp": "1772450000",
        "recipient_id": eum.wa_id,
        "errors": [
            {
                "code": 131047,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": "window closed"},
            }
        ],
    }
    read = {
        "id": "wamid.OTHER==",
        "status": "read",
        "timestamp": "1772450001",
        "recipient_id": eum.wa_id,
        "conversation": {"id": "conv1"},
        "pricing": {"category": "service", "pricing_model": "PMP"},
    }
    parsed = parse_eum_event(eum.envelope(eum.value(statuses=[failed, read])))
    assert parsed.messages == ()
    first, second = parsed.statuses
    assert first.failed
    assert first.message_id == "wamid.OUR_REPLY=="
    assert first.errors[0].code == 131047
    assert first.errors[0].details == "window closed"
    assert first.business.origination_id == "phone-number-id-bbbb2222"
    assert second.status == "read"
    assert not second.failed
    assert second.conversation_id == "conv1"
    assert second.pricing_category == "service"
    assert second.timestamp == 1772450001


def test_several_messages_and_other_fields(eum):
    envelope = eum.envelope(
        eum.value(messages=[eum.text("a", id_="w1"), eum.text("b", id_="w2")]),
        eum.value(statuses=[{"id": "w0", "status": "delivered", "timestamp": "1"}]),
    )
    entry = json.loads(envelope["whatsAppWebhookEntry"])
    entry["changes"].append({"field": "message_template_status_update", "value": {"x": 1}})
    envelope["whatsAppWebhookEntry"] = json.dumps(entry)
    parsed = parse_eum_event(json.dumps(envelope).encode())
    assert [m.message_id for m in parsed.messages] == ["w1", "w2"]
    assert [s.message_id for s in parsed.statuses] == ["w0"]
    assert parsed.ignored_changes == 1


def test_accepts_whole_sns_notification(eum):
    notification = {"Type": "Notification", "Message": eum.sns_message(eum.text("hi"))}
    assert len(parse_eum_event(notification).messages) == 1


def test_unknown_business_number_is_malformed(eum):
    envelope = eum.envelope(eum.value(messages=[eum.text("hi")], phone_number_id="999"))
    with pytest.raises(MalformedEventError, match="not listed"):
        parse_eum_event(envelope)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda _: "not json", "not valid JSON"),
        (lambda _: "[1, 2]", "not a JSON object"),
        (lambda e: {**e, "whatsAppWebhookEntry": "{oops"}, "whatsAppWebhookEntry"),
        (lambda e: {k: v for k, v in e.items() if k != "context"}, "envelope: missing"),
    ],
)
def test_malformed_envelopes(eum, mutate, reason):
    with pytest.raises(MalformedEventError, match=reason):
        parse_eum_event(mutate(eum.envelope(eum.value(messages=[eum.text("hi")]))))


def test_malformed_reason_carries_no_personal_data(eum):
    secret_text = "my card is 4111 1111"
    wire = eum.text(secret_text)
    wire["timestamp"] = "not-a-time " + eum.wa_id
    with pytest.raises(MalformedEventError) as caught:
        parse_eum_event(eum.sns_message(wire))
    reason = caught.value.reason
    assert "timestamp" in reason
    for pii in (eum.wa_id, eum.bsuid, secret_text, "Ana"):
        assert pii not in reason
        assert pii not in str(caught.value)


def test_customer_without_any_identity_is_malformed(eum):
    wire = eum.text("hi")
    del wire["from"], wire["from_user_id"]
    envelope = eum.envelope(eum.value(messages=[wire], contacts=[]))
    with pytest.raises(MalformedEventError, match="neither"):
        parse_eum_event(envelope)


def test_typed_payload_object_missing_is_malformed(eum):
    with pytest.raises(MalformedEventError, match="image message without"):
        parse_eum_event(eum.sns_message(eum.message("image")))


def test_origination_id_from_arn():
    arn = "arn:aws:social-messaging:eu-west-1:1:phone-number-id/abc123"
    assert origination_id_from_arn(arn) == "phone-number-id-abc123"
    with pytest.raises(MalformedEventError):
        origination_id_from_arn("arn:aws:social-messaging:eu-west-1:1:waba/abc")
