"""Who the customer is after an identity-change system message (Meta's shapes)."""

from __future__ import annotations

import json

from service.bridge.events.eum import parse_eum_event
from service.bridge.flows.identity import new_identity
from tests.support.eum import eum_event

BUSINESS = "200000000000002"


def test_a_changed_number_keeps_the_bsuid_and_takes_the_new_wa_id():
    change = {
        "type": "system",
        "system": {"body": "changed", "wa_id": "5215587654321", "type": "user_changed_number"},
    }
    [message] = parse_eum_event(eum_event(change, wa_id="5215512345678")).messages
    after = new_identity(message)
    assert after is not None
    assert after.wa_id == "5215587654321"
    assert after.key_for(BUSINESS) == f"{BUSINESS}#5215587654321"
    assert message.customer_key == f"{BUSINESS}#5215512345678"


def test_a_changed_user_id_without_a_sender_is_the_previous_user():
    change = {
        "type": "system",
        "system": {
            "body": "User changed from CO.1234567890 to MX.0987654321",
            "user_id": "MX.0987654321",
            "previous_user_id": "CO.1234567890",
            "type": "user_changed_user_id",
        },
    }
    raw = json.loads(eum_event(change, wa_id=None))
    entry = json.loads(raw["whatsAppWebhookEntry"])
    del entry["changes"][0]["value"]["contacts"]  # Meta sends none with this message
    raw["whatsAppWebhookEntry"] = json.dumps(entry)
    [message] = parse_eum_event(json.dumps(raw)).messages

    assert message.customer_key == f"{BUSINESS}#CO.1234567890"
    after = new_identity(message)
    assert after is not None
    assert after.key_for(BUSINESS) == f"{BUSINESS}#MX.0987654321"


def test_other_system_messages_change_nobody():
    notice = {"type": "system", "system": {"body": "x", "type": "customer_identity_changed"}}
    [message] = parse_eum_event(eum_event(notice)).messages
    assert new_identity(message) is None
