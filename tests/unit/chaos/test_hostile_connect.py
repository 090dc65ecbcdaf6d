"""The hostile Connect event generator: every shape, within SNS/SQS limits, safe targets."""

from __future__ import annotations

import json

from bench.chaos.hostile_connect import hostile_connect_events

_SQS_LIMIT = 256 * 1024
_REAL = ("real-contact-1", "real-contact-2")


def test_count_shapes_and_sizes():
    events = list(hostile_connect_events(400, contacts=_REAL))
    assert len(events) == 400
    labels = {event.label for event in events}
    assert {"nested-array", "unknown-contact-fresh", "huge-customer-echo"} <= labels
    assert len(labels) >= 25
    assert all(len(event.body.encode()) < _SQS_LIMIT - 8 * 1024 for event in events)
    assert {event.transport for event in events} == {"sns", "sqs"}
    # What goes through SNS must pass the outbound subscription's filter policy.
    assert all(
        e.attributes and e.attributes["MessageVisibility"] == "ALL"
        for e in events
        if e.transport == "sns"
    )


def test_agent_looking_messages_never_target_a_real_chat():
    for event in hostile_connect_events(600, contacts=_REAL):
        if not any(contact in event.body for contact in _REAL):
            continue
        item = json.loads(event.body)
        if item.get("Type") == "Notification":
            item = json.loads(item["Message"])
        # Sent to a live chat, it is never a plain agent text the bridge should forward.
        assert not (item["ParticipantRole"] == "AGENT" and item["ContentType"] == "text/plain"), (
            event.label
        )


def test_without_chats_no_event_names_one():
    events = list(hostile_connect_events(100, contacts=()))
    assert not any(event.label.startswith(("huge-customer", "interactive")) for event in events)
