"""`connect` operations through the production client: StartChatContact and streaming."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from service.local import constants

INSTANCE_ID = constants.CONNECT_INSTANCE_ID
FLOW_ID = constants.CONTACT_FLOW_ID


def _status(error: ClientError) -> int:
    return int(error.response["ResponseMetadata"]["HTTPStatusCode"])


async def test_start_chat_contact_creates_a_contact_with_its_ids_and_transcript(kit):
    chat = await kit.start_chat(
        Attributes={"Channel": "WHATSAPP", "customerName": "Ana"}, CustomerId="cust-1"
    )

    assert chat["ContactId"]
    assert chat["ParticipantId"]
    assert chat["ParticipantToken"]
    record = await kit.contact(chat["ContactId"])
    assert record["initialContactId"] == chat["ContactId"]
    assert record["state"] == "INITIATED"
    assert record["attributes"] == {"Channel": "WHATSAPP", "customerName": "Ana"}
    assert record["customerId"] == "cust-1"
    [initial] = record["transcript"]
    assert initial["participantRole"] == "CUSTOMER"
    assert initial["contentType"] == "text/plain"
    assert initial["content"] == "hola"
    assert record["clientTokens"]["StartChatContact"]


async def test_same_client_token_returns_the_same_contact(kit):
    first = await kit.start_chat(ClientToken="start-1")
    again = await kit.start_chat(ClientToken="start-1")
    other = await kit.start_chat(ClientToken="start-2")

    assert again["ContactId"] == first["ContactId"]
    assert again["ParticipantToken"] == first["ParticipantToken"]
    assert other["ContactId"] != first["ContactId"]
    contacts = (await kit.sandbox.get("/sandbox/contacts")).json()["contacts"]
    assert len(contacts) == 2


async def test_instance_and_flow_may_be_given_as_arns(kit):
    arn = f"arn:aws:connect:us-east-1:123456789012:instance/{INSTANCE_ID}"
    chat = await kit.start_chat(InstanceId=arn, ContactFlowId=f"{arn}/contact-flow/{FLOW_ID}")
    assert (await kit.contact(chat["ContactId"]))["instanceId"] == INSTANCE_ID


@pytest.mark.parametrize(
    ("override", "code", "status"),
    [
        ({"InstanceId": "00000000-0000-4000-8000-000000000000"}, "ResourceNotFoundException", 404),
        ({"ContactFlowId": "unknown-flow"}, "ResourceNotFoundException", 404),
        (
            {"SupportedMessagingContentTypes": ["text/markdown"]},
            "InvalidParameterException",
            400,
        ),
        (
            {"InitialMessage": {"ContentType": "image/png", "Content": "x"}},
            "InvalidParameterException",
            400,
        ),
        ({"Attributes": {"big": "x" * 32800}}, "InvalidParameterException", 400),
        ({"ChatDurationInMinutes": 10081}, "InvalidParameterException", 400),
    ],
)
async def test_start_chat_contact_rejects_bad_input(kit, override, code, status):
    with pytest.raises(ClientError) as caught:
        await kit.start_chat(**override)
    assert caught.value.response["Error"]["Code"] == code
    assert _status(caught.value) == status
    assert (await kit.sandbox.get("/sandbox/contacts")).json()["contacts"] == []


async def test_initial_message_over_the_sandbox_text_limit_is_rejected(kit):
    await kit.sandbox.post("/sandbox/config", json={"connect_text_limit": 10})
    with pytest.raises(ClientError) as caught:
        await kit.start_chat(InitialMessage={"ContentType": "text/plain", "Content": "x" * 11})
    assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "too long" in caught.value.response["Error"]["Message"]


async def test_concurrent_active_chats_quota_gives_limit_exceeded(kit):
    await kit.sandbox.post("/sandbox/config", json={"max_active_chats": 1})
    first = await kit.start_chat()
    with pytest.raises(kit.clients.connect.exceptions.LimitExceededException) as caught:
        await kit.start_chat()
    assert _status(caught.value) == 429

    await kit.sandbox.post(f"/sandbox/contacts/{first['ContactId']}/end")
    assert (await kit.start_chat())["ContactId"] != first["ContactId"]


async def test_chat_duration_ends_the_contact_when_the_clock_passes_it(kit):
    chat = await kit.start_chat(ChatDurationInMinutes=60)
    await kit.advance_clock(59 * 60)
    assert (await kit.contact(chat["ContactId"]))["state"] != "ENDED"

    await kit.advance_clock(61)
    record = await kit.contact(chat["ContactId"])
    assert record["state"] == "ENDED"
    assert record["endReason"] == "DURATION_EXPIRED"


async def test_persistent_chat_continues_from_an_ended_contact(kit):
    first = await kit.start_chat()
    persistent = {"RehydrationType": "ENTIRE_PAST_SESSION", "SourceContactId": first["ContactId"]}
    with pytest.raises(kit.clients.connect.exceptions.InvalidRequestException):
        await kit.start_chat(PersistentChat=persistent)  # the source is still active
    await kit.sandbox.post(f"/sandbox/contacts/{first['ContactId']}/end")
    second = await kit.start_chat(PersistentChat=persistent)
    assert second["ContinuedFromContactId"] == first["ContactId"]


async def test_streaming_publishes_items_after_it_starts_not_before(kit):
    topic, queue = await kit.topic_and_queue("connect-out")
    chat, token = await kit.connected_chat()  # initial message and join happen before streaming

    started = await kit.clients.connect.start_contact_streaming(
        InstanceId=INSTANCE_ID,
        ContactId=chat["ContactId"],
        ChatStreamingConfiguration={"StreamingEndpointArn": topic},
        ClientToken="stream-1",
    )
    await kit.clients.participant.send_message(
        ConnectionToken=token, ContentType="text/plain", Content="after streaming"
    )

    [envelope] = await kit.drain(queue, 1)
    body = json.loads(envelope["Message"])
    assert body["Content"] == "after streaming"
    assert body["ParticipantRole"] == "CUSTOMER"
    await kit.assert_quiet(queue)
    record = await kit.contact(chat["ContactId"])
    assert record["streaming"] == [
        {
            "streamingId": started["StreamingId"],
            "topicArn": topic,
            "active": True,
            "startedAt": record["streaming"][0]["startedAt"],
        }
    ]


async def test_start_streaming_is_idempotent_and_stop_ends_publishing(kit):
    topic, queue = await kit.topic_and_queue("connect-out")
    chat, token = await kit.connected_chat()
    params = {
        "InstanceId": INSTANCE_ID,
        "ContactId": chat["ContactId"],
        "ChatStreamingConfiguration": {"StreamingEndpointArn": topic},
        "ClientToken": "stream-1",
    }
    first = await kit.clients.connect.start_contact_streaming(**params)
    again = await kit.clients.connect.start_contact_streaming(**params)
    assert again["StreamingId"] == first["StreamingId"]

    await kit.clients.connect.stop_contact_streaming(
        InstanceId=INSTANCE_ID, ContactId=chat["ContactId"], StreamingId=first["StreamingId"]
    )
    await kit.clients.participant.send_message(
        ConnectionToken=token, ContentType="text/plain", Content="not streamed"
    )
    await kit.assert_quiet(queue)


async def test_streaming_in_start_chat_contact_streams_the_initial_message(kit):
    topic, queue = await kit.topic_and_queue("connect-out")
    chat = await kit.start_chat(ChatStreamingConfiguration={"StreamingEndpointArn": topic})
    assert chat["StreamingId"]
    [envelope] = await kit.drain(queue, 1)
    assert json.loads(envelope["Message"])["Content"] == "hola"


@pytest.mark.parametrize(
    ("arn", "code"),
    [
        ("arn:aws:sqs:us-east-1:123456789012:queue", "InvalidParameterException"),
        ("arn:aws:sns:us-east-1:123456789012:topic.fifo", "InvalidParameterException"),
    ],
)
async def test_streaming_endpoint_must_be_a_standard_sns_topic(kit, arn, code):
    chat = await kit.start_chat()
    with pytest.raises(ClientError) as caught:
        await kit.clients.connect.start_contact_streaming(
            InstanceId=INSTANCE_ID,
            ContactId=chat["ContactId"],
            ChatStreamingConfiguration={"StreamingEndpointArn": arn},
            ClientToken="t",
        )
    assert caught.value.response["Error"]["Code"] == code


async def test_at_most_two_streaming_endpoints_per_chat(kit):
    chat = await kit.start_chat()
    for index in range(2):
        await kit.clients.connect.start_contact_streaming(
            InstanceId=INSTANCE_ID,
            ContactId=chat["ContactId"],
            ChatStreamingConfiguration={
                "StreamingEndpointArn": f"arn:aws:sns:us-east-1:123456789012:t{index}"
            },
            ClientToken=f"t{index}",
        )
    with pytest.raises(kit.clients.connect.exceptions.LimitExceededException):
        await kit.clients.connect.start_contact_streaming(
            InstanceId=INSTANCE_ID,
            ContactId=chat["ContactId"],
            ChatStreamingConfiguration={
                "StreamingEndpointArn": "arn:aws:sns:us-east-1:123456789012:t3"
            },
            ClientToken="t3",
        )


async def test_streaming_calls_on_unknown_contacts_and_streams_are_not_found(kit):
    connect = kit.clients.connect
    with pytest.raises(connect.exceptions.ResourceNotFoundException):
        await connect.start_contact_streaming(
            InstanceId=INSTANCE_ID,
            ContactId="no-such-contact",
            ChatStreamingConfiguration={
                "StreamingEndpointArn": "arn:aws:sns:us-east-1:123456789012:t"
            },
            ClientToken="t",
        )
    chat = await kit.start_chat()
    with pytest.raises(connect.exceptions.ResourceNotFoundException):
        await connect.stop_contact_streaming(
            InstanceId=INSTANCE_ID, ContactId=chat["ContactId"], StreamingId="nope"
        )


async def test_streaming_cannot_start_on_an_ended_contact(kit):
    chat = await kit.start_chat()
    await kit.sandbox.post(f"/sandbox/contacts/{chat['ContactId']}/end")
    with pytest.raises(kit.clients.connect.exceptions.InvalidRequestException):
        await kit.clients.connect.start_contact_streaming(
            InstanceId=INSTANCE_ID,
            ContactId=chat["ContactId"],
            ChatStreamingConfiguration={
                "StreamingEndpointArn": "arn:aws:sns:us-east-1:123456789012:t"
            },
            ClientToken="t",
        )


async def test_each_chat_ends_at_its_own_duration(kit):
    short = await kit.start_chat(ChatDurationInMinutes=60)
    long = await kit.start_chat(ChatDurationInMinutes=120)
    await kit.advance_clock(61 * 60)
    assert (await kit.contact(short["ContactId"]))["state"] == "ENDED"
    assert (await kit.contact(long["ContactId"]))["state"] != "ENDED"
    later = await kit.start_chat(ChatDurationInMinutes=90)  # ends after `long`
    await kit.advance_clock(60 * 60)
    assert (await kit.contact(long["ContactId"]))["state"] == "ENDED"
    assert (await kit.contact(later["ContactId"]))["state"] != "ENDED"
