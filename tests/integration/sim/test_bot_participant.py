"""`connect:CreateParticipant` through the production client: a CUSTOM_BOT of its own."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from service.local import constants

INSTANCE_ID = constants.CONNECT_INSTANCE_ID
BOT = {"ParticipantRole": "CUSTOM_BOT", "DisplayName": "WhatsApp"}


async def _add_bot(kit, contact_id: str, **overrides):
    params = {
        "InstanceId": INSTANCE_ID,
        "ContactId": contact_id,
        "ParticipantDetails": BOT,
        "ClientToken": "bot-1",
    }
    params.update(overrides)
    return await kit.clients.connect.create_participant(**params)


async def test_a_bot_gets_its_own_token_and_speaks_with_its_role_and_name(kit):
    chat, customer_token = await kit.connected_chat()
    topic, queue = await kit.topic_and_queue("bot-stream")
    await kit.clients.connect.start_contact_streaming(
        InstanceId=INSTANCE_ID,
        ContactId=chat["ContactId"],
        ChatStreamingConfiguration={"StreamingEndpointArn": topic},
        ClientToken="stream-1",
    )
    added = await _add_bot(kit, chat["ContactId"])

    assert added["ParticipantId"] != chat["ParticipantId"]
    bot_token = added["ParticipantCredentials"]["ParticipantToken"]
    assert bot_token != chat["ParticipantToken"]
    assert added["ParticipantCredentials"]["Expiry"]
    connection = await kit.clients.participant.create_participant_connection(
        ParticipantToken=bot_token, Type=["CONNECTION_CREDENTIALS"]
    )
    await kit.clients.participant.send_message(
        ConnectionToken=connection["ConnectionCredentials"]["ConnectionToken"],
        ContentType="text/plain",
        Content="⚠️ note",
    )

    record = await kit.contact(chat["ContactId"])
    [note] = [item for item in record["transcript"] if item["content"] == "⚠️ note"]
    assert note["participantRole"] == "CUSTOM_BOT"
    assert note["displayName"] == "WhatsApp"
    assert note["participantId"] == added["ParticipantId"]
    roles = {p["role"]: p["displayName"] for p in record["participants"]}
    assert roles["CUSTOM_BOT"] == "WhatsApp"
    joined, message = await kit.drain(queue, 2)
    assert json.loads(joined["Message"])["ContentType"].endswith("participant.joined")
    body = json.loads(message["Message"])
    assert body["ParticipantRole"] == "CUSTOM_BOT"
    assert body["DisplayName"] == "WhatsApp"
    assert message["MessageAttributes"]["ParticipantRole"]["Value"] == "CUSTOM_BOT"
    # The customer's connection is untouched and still speaks as the customer.
    await kit.clients.participant.send_message(
        ConnectionToken=customer_token, ContentType="text/plain", Content="yo"
    )
    record = await kit.contact(chat["ContactId"])
    assert record["transcript"][-1]["participantRole"] == "CUSTOMER"


async def test_the_same_client_token_adds_the_bot_once(kit):
    chat, _ = await kit.connected_chat()
    first = await _add_bot(kit, chat["ContactId"])
    again = await _add_bot(kit, chat["ContactId"])

    assert again["ParticipantId"] == first["ParticipantId"]
    assert (
        again["ParticipantCredentials"]["ParticipantToken"]
        == first["ParticipantCredentials"]["ParticipantToken"]
    )
    record = await kit.contact(chat["ContactId"])
    assert [p["role"] for p in record["participants"]].count("CUSTOM_BOT") == 1


@pytest.mark.parametrize("role", ["CUSTOMER", "AGENT", "SYSTEM", "SUPERVISOR"])
async def test_only_custom_bot_may_be_added_to_a_chat(kit, role):
    chat, _ = await kit.connected_chat()
    with pytest.raises(ClientError) as caught:
        await _add_bot(
            kit, chat["ContactId"], ParticipantDetails={"ParticipantRole": role, "DisplayName": "x"}
        )
    assert caught.value.response["Error"]["Code"] == "InvalidRequestException"


async def test_an_ended_or_unknown_chat_takes_no_bot(kit):
    chat, token = await kit.connected_chat()
    await kit.clients.participant.disconnect_participant(ConnectionToken=token)
    with pytest.raises(ClientError) as ended:
        await _add_bot(kit, chat["ContactId"])
    assert ended.value.response["Error"]["Code"] == "InvalidRequestException"
    with pytest.raises(ClientError) as unknown:
        await _add_bot(kit, "00000000-0000-4000-8000-000000000000")
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"


async def test_a_bot_token_is_refused_once_the_chat_ends(kit):
    chat, customer_token = await kit.connected_chat()
    added = await _add_bot(kit, chat["ContactId"])
    await kit.clients.participant.disconnect_participant(ConnectionToken=customer_token)
    with pytest.raises(ClientError) as caught:
        await kit.clients.participant.create_participant_connection(
            ParticipantToken=added["ParticipantCredentials"]["ParticipantToken"],
            Type=["CONNECTION_CREDENTIALS"],
        )
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
