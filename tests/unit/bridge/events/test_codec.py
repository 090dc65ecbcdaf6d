"""The compact form stored in the raw-messages table round-trips every message."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.bridge.events.codec import from_compact, to_compact
from service.bridge.events.eum import parse_eum_event
from service.bridge.events.whatsapp import MalformedEventError, TextPayload


def test_compact_version_is_checked(eum):
    (message,) = parse_eum_event(eum.sns_message(eum.text("hi"))).messages
    compact = to_compact(message)
    assert compact["v"] == 1
    with pytest.raises(MalformedEventError, match="version"):
        from_compact({**compact, "v": 99})
    with pytest.raises(MalformedEventError, match="compact message"):
        from_compact({"v": 1, "message_id": "x"})


@given(body=st.text(), timestamp=st.integers(min_value=0, max_value=2**40))
def test_compact_round_trip_any_text(body, timestamp):
    factory_message = {
        "from": "1",
        "id": "w",
        "timestamp": str(timestamp),
        "type": "text",
        "text": {"body": body},
    }
    envelope = {
        "context": {
            "MetaPhoneNumberIds": [{"metaPhoneNumberId": "p", "arn": "a:phone-number-id/x"}]
        },
        "whatsAppWebhookEntry": {
            "changes": [
                {
                    "field": "messages",
                    "value": {"metadata": {"phone_number_id": "p"}, "messages": [factory_message]},
                }
            ]
        },
    }
    (message,) = parse_eum_event(envelope).messages
    restored = from_compact(json.loads(json.dumps(to_compact(message))))
    assert restored == message
    assert restored.payload == TextPayload(body=body)
    assert restored.timestamp == timestamp
