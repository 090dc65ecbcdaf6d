"""What the admin API may show of a session, and the session TTL."""

import json
from typing import Any

from service.bridge.adapters.sessions import Session, session_expiry
from service.redaction import REDACTED, mask

WA_ID = "5215512345678"
BSUID = "MX.1234567890"


def _session(**fields) -> Session:
    values: dict[str, Any] = {
        "customer_key": f"200000000000002#{WA_ID}",
        "contact_id": "c-2",
        "initial_contact_id": "c-1",
        "participant_id": "p-1",
        "participant_token": "ptok-secret",
        "display_name": "Ana María",
        "business_phone_number_id": "200000000000002",
        "origination_id": "phone-number-id-bbbb2222",
        "last_customer_message_at": 1_772_360_000,
        "expires_at": 1_772_450_000,
        "wa_id": WA_ID,
        "bsuid": BSUID,
        "connection_token": "ctok-secret",
        "connection_expires_at": 1_772_446_400,
        "version": 3,
    }
    values.update(fields)
    return Session(**values)


def test_mask_keeps_the_last_four_characters():
    assert mask(WA_ID) == "•••••••••5678"
    assert mask("1234") == "••••"
    assert mask("") == ""


def test_redacted_view_hides_tokens_and_identities():
    view = _session().redacted()

    assert view["participant_token"] == REDACTED
    assert view["connection_token"] == REDACTED
    assert view["customer_key"] == "200000000000002#•••••••••5678"
    assert view["wa_id"] == "•••••••••5678"
    assert view["bsuid"] == "•••••••••7890"
    assert view["display_name"] == "A•••"
    # What an operator needs to find the chat in Connect stays visible.
    assert view["contact_id"] == "c-2"
    assert view["initial_contact_id"] == "c-1"
    assert view["version"] == 3
    text = json.dumps(view)
    for secret in ("ptok-secret", "ctok-secret", WA_ID, BSUID, "Ana María"):
        assert secret not in text


def test_redacted_view_of_a_session_without_connection_or_wa_id():
    view = _session(
        customer_key=f"200000000000002#{BSUID}", wa_id=None, connection_token=None
    ).redacted()

    assert view["connection_token"] is None
    assert view["wa_id"] is None
    assert view["customer_key"] == "200000000000002#•••••••••7890"


def test_session_expiry_is_the_chat_duration_plus_a_margin():
    assert session_expiry(1000.7, 60) == 1000 + 3600 + 3600
    assert session_expiry(1000, None) == 1000 + 25 * 3600 + 3600
    assert session_expiry(1000, 60, margin_s=0) == 1000 + 3600
