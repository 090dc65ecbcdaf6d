"""`connectparticipant` operations: tokens, expiry, chat end, idempotency, attachments."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

CONNECT_WINDOW_S = 300
DAY_S = 86400


def _code(error: ClientError) -> tuple[str, int]:
    return (
        error.response["Error"]["Code"],
        int(error.response["ResponseMetadata"]["HTTPStatusCode"]),
    )


async def _send(kit, token: str, content: str = "hi", **extra):
    return await kit.clients.participant.send_message(
        ConnectionToken=token, ContentType="text/plain", Content=content, **extra
    )


async def test_connection_gives_credentials_and_marks_the_customer_joined(kit):
    chat, token = await kit.connected_chat()
    record = await kit.contact(chat["ContactId"])

    assert token
    assert record["state"] == "CONNECTED"
    assert [item["contentType"] for item in record["transcript"]] == [
        "text/plain",
        "application/vnd.amazonaws.connect.event.participant.joined",
    ]


async def test_connection_token_expiry_is_a_day_and_reported_in_the_answer(kit):
    chat = await kit.start_chat()
    answer = await kit.clients.participant.create_participant_connection(
        ParticipantToken=chat["ParticipantToken"], Type=["CONNECTION_CREDENTIALS", "WEBSOCKET"]
    )
    credentials = answer["ConnectionCredentials"]
    clock = (await kit.sandbox.get("/sandbox/clock")).json()
    assert credentials["Expiry"][:10] > clock["now"][:10]  # a later calendar day
    assert answer["Websocket"]["Url"].startswith("wss://")


async def test_send_message_appends_to_the_transcript_with_its_client_token(kit):
    chat, token = await kit.connected_chat()
    sent = await _send(kit, token, "necesito ayuda", ClientToken="msg-1")

    record = await kit.contact(chat["ContactId"])
    last = record["transcript"][-1]
    assert last["id"] == sent["Id"]
    assert last["content"] == "necesito ayuda"
    assert last["clientToken"] == "msg-1"
    assert record["clientTokens"]["SendMessage"] == ["msg-1"]


async def test_send_message_with_the_same_client_token_is_not_repeated(kit):
    chat, token = await kit.connected_chat()
    first = await _send(kit, token, "once", ClientToken="msg-1")
    again = await _send(kit, token, "once", ClientToken="msg-1")
    other = await _send(kit, token, "twice", ClientToken="msg-2")

    assert again["Id"] == first["Id"]
    assert again["AbsoluteTime"] == first["AbsoluteTime"]
    assert other["Id"] != first["Id"]
    messages = [
        item
        for item in (await kit.contact(chat["ContactId"]))["transcript"]
        if item["type"] == "MESSAGE" and item["participantRole"] == "CUSTOMER"
    ]
    assert [item["content"] for item in messages] == ["hola", "once", "twice"]


async def test_unknown_connection_token_is_access_denied(kit):
    with pytest.raises(kit.clients.participant.exceptions.AccessDeniedException) as caught:
        await _send(kit, "ctok-unknown")
    assert _code(caught.value) == ("AccessDeniedException", 403)


async def test_expired_connection_token_is_denied_and_reconnecting_works(kit):
    chat, token = await kit.connected_chat()
    await kit.advance_clock(DAY_S + 1)

    with pytest.raises(kit.clients.participant.exceptions.AccessDeniedException):
        await _send(kit, token)
    # The participant token outlives the connection token: reconnect and carry on.
    renewed = await kit.clients.participant.create_participant_connection(
        ParticipantToken=chat["ParticipantToken"], Type=["CONNECTION_CREDENTIALS"]
    )
    await _send(kit, renewed["ConnectionCredentials"]["ConnectionToken"], "back")
    assert (await kit.contact(chat["ContactId"]))["transcript"][-1]["content"] == "back"


async def test_configured_token_lifetime_applies(kit):
    await kit.sandbox.post("/sandbox/config", json={"connection_token_ttl_s": 60})
    _, token = await kit.connected_chat()
    await kit.advance_clock(59)
    await _send(kit, token)
    await kit.advance_clock(2)
    with pytest.raises(kit.clients.participant.exceptions.AccessDeniedException):
        await _send(kit, token)


async def test_first_connection_after_five_minutes_is_denied_and_ends_the_contact(kit):
    chat = await kit.start_chat()
    await kit.advance_clock(CONNECT_WINDOW_S + 1)

    with pytest.raises(kit.clients.participant.exceptions.AccessDeniedException):
        await kit.clients.participant.create_participant_connection(
            ParticipantToken=chat["ParticipantToken"], Type=["CONNECTION_CREDENTIALS"]
        )
    record = await kit.contact(chat["ContactId"])
    assert record["state"] == "ENDED"
    assert record["endReason"] == "NEVER_CONNECTED"


async def test_reconnection_after_five_minutes_is_fine_once_connected(kit):
    chat, _ = await kit.connected_chat()
    await kit.advance_clock(CONNECT_WINDOW_S * 10)
    answer = await kit.clients.participant.create_participant_connection(
        ParticipantToken=chat["ParticipantToken"], Type=["CONNECTION_CREDENTIALS"]
    )
    assert answer["ConnectionCredentials"]["ConnectionToken"]


async def test_ended_chat_denies_every_participant_call(kit):
    chat, token = await kit.connected_chat()
    await kit.sandbox.post(f"/sandbox/contacts/{chat['ContactId']}/end")

    participant = kit.clients.participant
    denied = participant.exceptions.AccessDeniedException
    with pytest.raises(denied):
        await _send(kit, token)
    with pytest.raises(denied):
        await participant.send_event(
            ConnectionToken=token, ContentType="application/vnd.amazonaws.connect.event.typing"
        )
    with pytest.raises(denied):
        await participant.get_transcript(ConnectionToken=token)
    with pytest.raises(denied):
        await participant.create_participant_connection(
            ParticipantToken=chat["ParticipantToken"], Type=["CONNECTION_CREDENTIALS"]
        )


async def test_expire_connection_tokens_fault_forces_a_reconnect(kit):
    chat, token = await kit.connected_chat()
    answer = await kit.sandbox.post("/sandbox/faults", json={"action": "expire_connection_tokens"})
    assert answer.json() == {"expired": 1}
    with pytest.raises(kit.clients.participant.exceptions.AccessDeniedException):
        await _send(kit, token)
    renewed = await kit.clients.participant.create_participant_connection(
        ParticipantToken=chat["ParticipantToken"], Type=["CONNECTION_CREDENTIALS"]
    )
    assert renewed["ConnectionCredentials"]["ConnectionToken"] != token


async def test_sandbox_text_limit_rejects_long_messages_as_too_long(kit):
    await kit.sandbox.post("/sandbox/config", json={"connect_text_limit": 1024})
    _, token = await kit.connected_chat()
    await _send(kit, token, "x" * 1024)
    with pytest.raises(kit.clients.participant.exceptions.ValidationException) as caught:
        await _send(kit, token, "x" * 1025)
    assert "too long" in caught.value.response["Error"]["Message"]

    await kit.sandbox.post("/sandbox/config", json={"connect_text_limit": None})
    await _send(kit, token, "x" * 1025)


async def test_send_message_rejects_content_types_a_customer_cannot_send(kit):
    _, token = await kit.connected_chat()
    participant = kit.clients.participant
    with pytest.raises(participant.exceptions.ValidationException):
        await participant.send_message(
            ConnectionToken=token,
            ContentType="application/vnd.amazonaws.connect.message.interactive",
            Content="{}",
        )
    with pytest.raises(participant.exceptions.ValidationException):
        await participant.send_message(
            ConnectionToken=token, ContentType="application/json", Content="not json"
        )


async def test_send_event_typing_and_read_receipt(kit):
    chat, token = await kit.connected_chat()
    agent_message = (
        await kit.sandbox.post(
            f"/sandbox/contacts/{chat['ContactId']}/agent/messages", json={"text": "Hola"}
        )
    ).json()
    participant = kit.clients.participant
    typing = await participant.send_event(
        ConnectionToken=token, ContentType="application/vnd.amazonaws.connect.event.typing"
    )
    read = await participant.send_event(
        ConnectionToken=token,
        ContentType="application/vnd.amazonaws.connect.event.message.read",
        Content=json.dumps({"messageId": agent_message["id"]}),
        ClientToken="read-1",
    )
    again = await participant.send_event(
        ConnectionToken=token,
        ContentType="application/vnd.amazonaws.connect.event.message.read",
        Content=json.dumps({"messageId": agent_message["id"]}),
        ClientToken="read-1",
    )

    assert again["Id"] == read["Id"]
    record = await kit.contact(chat["ContactId"])
    by_id = {item["id"]: item for item in record["transcript"]}
    assert by_id[typing["Id"]]["visibility"] == "AGENT"
    assert by_id[read["Id"]]["content"] == json.dumps({"messageId": agent_message["id"]})
    [receipt] = by_id[agent_message["id"]]["receipts"].values()
    assert set(receipt) == {"DeliveredTimestamp", "ReadTimestamp"}
    assert len([item for item in record["transcript"] if item["clientToken"] == "read-1"]) == 1


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("application/vnd.amazonaws.connect.event.chat.ended", None),
        ("application/vnd.amazonaws.connect.event.message.read", "not json"),
        ("application/vnd.amazonaws.connect.event.message.delivered", '{"id": "x"}'),
    ],
)
async def test_send_event_rejects_bad_events(kit, content_type, content):
    _, token = await kit.connected_chat()
    extra = {} if content is None else {"Content": content}
    with pytest.raises(kit.clients.participant.exceptions.ValidationException):
        await kit.clients.participant.send_event(
            ConnectionToken=token, ContentType=content_type, **extra
        )


async def test_disconnect_participant_ends_the_chat(kit):
    chat, token = await kit.connected_chat()
    await kit.clients.participant.disconnect_participant(ConnectionToken=token)

    record = await kit.contact(chat["ContactId"])
    assert record["state"] == "ENDED"
    assert record["endReason"] == "CUSTOMER_DISCONNECTED"
    assert record["transcript"][-2]["contentType"].endswith("participant.left")
    assert record["transcript"][-1]["contentType"].endswith("chat.ended")
    with pytest.raises(kit.clients.participant.exceptions.AccessDeniedException):
        await _send(kit, token)


async def test_get_transcript_pages_and_orders(kit):
    _, token = await kit.connected_chat()
    for index in range(5):
        await _send(kit, token, f"m{index}")
    participant = kit.clients.participant

    forward = await participant.get_transcript(
        ConnectionToken=token, ScanDirection="FORWARD", SortOrder="ASCENDING", MaxResults=4
    )
    contents = [item.get("Content") for item in forward["Transcript"]]
    assert contents == ["hola", None, "m0", "m1"]  # the join event has no content
    rest = await participant.get_transcript(
        ConnectionToken=token,
        ScanDirection="FORWARD",
        SortOrder="ASCENDING",
        MaxResults=4,
        NextToken=forward["NextToken"],
    )
    assert [item.get("Content") for item in rest["Transcript"]] == ["m2", "m3", "m4"]
    assert "NextToken" not in rest

    newest = await participant.get_transcript(ConnectionToken=token, MaxResults=2)
    assert [item["Content"] for item in newest["Transcript"]] == ["m3", "m4"]
    assert newest["InitialContactId"]


async def test_get_transcript_rejects_a_bad_enum_with_validation_exception(loose, kit):
    _, token = await kit.connected_chat()
    with pytest.raises(loose.participant.exceptions.ValidationException) as caught:
        await loose.participant.get_transcript(ConnectionToken=token, ScanDirection="SIDEWAYS")
    assert "enum value set: [FORWARD, BACKWARD]" in caught.value.response["Error"]["Message"]


async def test_get_transcript_from_a_start_position(kit):
    _, token = await kit.connected_chat()
    sent = [
        await kit.clients.participant.send_message(
            ConnectionToken=token, ContentType="text/plain", Content=f"m{index}"
        )
        for index in range(4)
    ]
    after = await kit.clients.participant.get_transcript(
        ConnectionToken=token, ScanDirection="FORWARD", StartPosition={"Id": sent[1]["Id"]}
    )
    assert [item["Content"] for item in after["Transcript"]] == ["m1", "m2", "m3"]
    before = await kit.clients.participant.get_transcript(
        ConnectionToken=token,
        ScanDirection="BACKWARD",
        StartPosition={"Id": sent[1]["Id"]},
        SortOrder="DESCENDING",
        MaxResults=2,
    )
    assert [item["Content"] for item in before["Transcript"]] == ["m1", "m0"]
    with pytest.raises(kit.clients.participant.exceptions.ValidationException):
        await kit.clients.participant.get_transcript(
            ConnectionToken=token, StartPosition={"Id": "no-such-item"}
        )
