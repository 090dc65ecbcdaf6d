import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.bridge.events.connect import (
    AttachmentEvent,
    ChatEndedEvent,
    MalformedStreamingEventError,
    MessageEvent,
    MessageFormat,
    OtherEvent,
    ParticipantEvent,
    ParticipantRole,
    ReceiptEvent,
    TransferSucceededEvent,
    TypingEvent,
    Visibility,
    parse_streaming_record,
    should_forward,
)

INTERACTIVE = "application/vnd.amazonaws.connect.message.interactive"


def test_agent_text_via_sns_envelope(connect):
    event = parse_streaming_record(connect.sns(connect.message("Hola Ana, soy Luis")))
    assert isinstance(event, MessageEvent)
    assert event.content == "Hola Ana, soy Luis"
    assert event.format is MessageFormat.PLAIN
    assert event.participant_role is ParticipantRole.AGENT
    assert event.visibility is Visibility.ALL
    assert event.initial_contact_id == connect.initial_contact_id
    assert event.contact_id == connect.contact_id
    assert event.display_name == "Luis"
    assert event.item_id is not None


@pytest.mark.parametrize(
    "content_type", ["text/markdown", INTERACTIVE, INTERACTIVE + ".response", "application/json"]
)
def test_message_formats(connect, content_type):
    body = connect.message("x", content_type=content_type)
    event = parse_streaming_record(connect.sns(body))
    assert isinstance(event, MessageEvent)
    assert event.format == content_type


def test_raw_delivery_uses_sqs_attributes(connect):
    body = connect.message("hi")
    del body["InitialContactId"]
    attributes = {
        "InitialContactId": {"DataType": "String", "StringValue": "from-attributes"},
        "MessageVisibility": {"DataType": "String", "StringValue": "CUSTOMER"},
    }
    event = parse_streaming_record(json.dumps(body), message_attributes=attributes)
    assert isinstance(event, MessageEvent)
    assert event.initial_contact_id == "from-attributes"
    assert event.visibility is Visibility.CUSTOMER


def test_attachment(connect):
    body = connect.item(
        Type="ATTACHMENT",
        ParticipantRole="AGENT",
        Attachments=[
            {
                "AttachmentId": "att-123",
                "AttachmentName": "factura.pdf",
                "ContentType": "application/pdf",
                "Status": "APPROVED",
            }
        ],
    )
    event = parse_streaming_record(connect.sns(body))
    assert isinstance(event, AttachmentEvent)
    (attachment,) = event.attachments
    assert attachment.attachment_id == "att-123"
    assert attachment.name == "factura.pdf"
    assert attachment.approved


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        ("event.typing", TypingEvent),
        ("event.chat.ended", ChatEndedEvent),
        ("event.transfer.succeeded", TransferSucceededEvent),
        ("event.participant.left", ParticipantEvent),
        ("event.participant.joined", ParticipantEvent),
        ("event.chat.rehydrated", OtherEvent),
        ("event.something.new", OtherEvent),
    ],
)
def test_events(connect, suffix, expected):
    event = parse_streaming_record(connect.sns(connect.event(suffix)))
    assert type(event) is expected
    assert event.initial_contact_id == connect.initial_contact_id
    if isinstance(event, ParticipantEvent):
        assert event.action == suffix.rsplit(".", 1)[-1]


def test_chat_ended_has_no_role(connect):
    event = parse_streaming_record(connect.sns(connect.event("event.chat.ended")))
    assert isinstance(event, ChatEndedEvent)
    assert event.participant_role is None


@pytest.mark.parametrize(
    ("fields", "receipt", "message_id"),
    [
        ({"Content": json.dumps({"messageId": "c-1"})}, "read", "c-1"),
        ({"MessageMetadata": {"MessageId": "c-2", "Receipts": []}}, "read", "c-2"),
        ({}, "read", None),
    ],
)
def test_read_receipts(connect, fields, receipt, message_id):
    body = connect.event("event.message.read", ParticipantRole="AGENT", **fields)
    event = parse_streaming_record(connect.sns(body))
    assert isinstance(event, ReceiptEvent)
    assert event.receipt == receipt
    assert event.message_id == message_id


def test_delivered_receipt(connect):
    body = connect.event("event.message.delivered", Content='{"messageId":"c-9"}')
    event = parse_streaming_record(connect.sns(body))
    assert isinstance(event, ReceiptEvent)
    assert event.receipt == "delivered"


def test_unknown_content_type_and_role_are_tolerated(connect):
    body = connect.message("x", role="ROBOT", content_type="text/x-new")
    event = parse_streaming_record(connect.sns(body))
    assert isinstance(event, OtherEvent)
    assert event.participant_role == "ROBOT"
    assert not should_forward(event, forward_system=True, forward_bots=True)


@pytest.mark.parametrize("raw", ["not json", "[1]", b"\xff\xfe"])
def test_not_an_event_at_all(raw):
    with pytest.raises(MalformedStreamingEventError):
        parse_streaming_record(raw)


@given(
    st.dictionaries(
        st.sampled_from(["Type", "ContentType", "Content", "Attachments", "Id"]),
        st.none() | st.text() | st.integers() | st.lists(st.integers()),
    )
)
def test_arbitrary_objects_never_crash(body):
    event = parse_streaming_record(body)
    assert event.kind in {
        "message",
        "attachment",
        "typing",
        "receipt",
        "participant",
        "chat_ended",
        "transfer_succeeded",
        "other",
    }


@pytest.mark.parametrize(
    ("role", "visibility", "flags", "expected"),
    [
        ("AGENT", "ALL", (False, False), True),
        ("AGENT", "CUSTOMER", (False, False), True),
        ("AGENT", "AGENT", (True, True), False),
        ("SUPERVISOR", "ALL", (False, False), True),
        ("CUSTOMER", "ALL", (True, True), False),
        ("SYSTEM", "ALL", (True, False), True),
        ("SYSTEM", "ALL", (False, True), False),
        ("CUSTOM_BOT", "ALL", (False, True), True),
        ("CUSTOM_BOT", "ALL", (True, False), False),
    ],
)
def test_should_forward_messages(connect, role, visibility, flags, expected):
    system, bots = flags
    event = parse_streaming_record(
        connect.sns(connect.message("x", role=role), visibility=visibility)
    )
    assert should_forward(event, forward_system=system, forward_bots=bots) is expected


def test_should_forward_lifecycle_and_echoes(connect):
    ended = parse_streaming_record(connect.sns(connect.event("event.chat.ended")))
    assert not should_forward(ended, forward_system=True, forward_bots=True)
    left = parse_streaming_record(
        connect.sns(connect.event("event.participant.left", ParticipantRole="AGENT"))
    )
    assert not should_forward(left, forward_system=True, forward_bots=True)
    echo = parse_streaming_record(
        connect.sns(connect.message("{}", role="SYSTEM", content_type=INTERACTIVE + ".response"))
    )
    assert not should_forward(echo, forward_system=True, forward_bots=True)
    typing = parse_streaming_record(
        connect.sns(connect.event("event.typing", ParticipantRole="AGENT"))
    )
    assert should_forward(typing, forward_system=False, forward_bots=False)


def test_missing_visibility_counts_as_visible(connect):
    event = parse_streaming_record(json.dumps(connect.message("hi")))
    assert event.visibility is None
    assert should_forward(event, forward_system=False, forward_bots=False)
