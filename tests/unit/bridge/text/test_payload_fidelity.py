"""Issue 13 row 7: what the real payloads carry reaches the agent (or, for echoes, nobody)."""

from __future__ import annotations

import json
from typing import Any

from service.bridge.events.eum import parse_eum_event
from service.bridge.text.render import render_burst
from tests.support.eum import eum_event


def rendered(*messages: dict[str, Any]) -> str:
    burst = list(parse_eum_event(eum_event(*messages)).messages)
    parts = render_burst(burst, ignore_stickers=True, ignore_reactions=True)
    return "\n".join(part.text for part in parts)  # type: ignore[union-attr]


def test_a_list_reply_shows_its_row_description():
    reply = {
        "type": "list_reply",
        "list_reply": {"id": "b", "title": "Billing", "description": "Invoices, payments"},
    }
    assert (
        rendered({"type": "interactive", "interactive": reply})
        == "[Chose] Billing — Invoices, payments"
    )


def test_call_permission_replies_say_accepted_until_or_declined():
    accepted = {
        "type": "call_permission_reply",
        "call_permission_reply": {"response": "accept", "expiration_timestamp": 1772964930},
    }
    declined = {"type": "call_permission_reply", "call_permission_reply": {"response": "reject"}}
    assert rendered({"type": "interactive", "interactive": accepted}) == (
        "[Allowed the business to call them until 2026-03-08 10:15 UTC]"
    )
    assert rendered({"type": "interactive", "interactive": declined}) == "[Declined to be called]"


def test_a_product_inquiry_names_the_catalogue_item():
    message = {
        "type": "text",
        "text": {"body": "is this in stock?"},
        "context": {
            "from": "15550001111",
            "id": "wamid.CATALOG",
            "referred_product": {"catalog_id": "cat-1", "product_retailer_id": "SKU-42"},
        },
    }
    assert rendered(message) == "[Asking about catalogue item SKU-42]\nis this in stock?"


def test_an_unsupported_message_says_what_whatsapp_said():
    message = {
        "type": "unsupported",
        "unsupported": {"type": "poll"},
        "errors": [
            {
                "code": 131051,
                "title": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ],
    }
    text = rendered(message)
    assert "(poll)" in text
    assert "WhatsApp: 131051 Message type is currently not supported." in text


def test_echoes_and_standby_events_are_recognised_and_never_customer_messages():
    raw = json.loads(eum_event({"type": "text", "text": {"body": "sent from the phone app"}}))
    entry = json.loads(raw["whatsAppWebhookEntry"])
    value = entry["changes"][0]["value"]
    value["message_echoes"] = value.pop("messages")
    entry["changes"] = [
        {"field": "smb_message_echoes", "value": value},
        {"field": "standby", "value": value},
    ]
    raw["whatsAppWebhookEntry"] = json.dumps(entry)

    parsed = parse_eum_event(json.dumps(raw))

    assert parsed.messages == ()
    assert parsed.ignored_changes == 2
