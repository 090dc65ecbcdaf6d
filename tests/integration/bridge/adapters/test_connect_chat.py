"""`ConnectChat` through the production clients against the Connect simulator."""

from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiobotocore.config import AioConfig
from botocore.exceptions import ClientError
from prometheus_client import CollectorRegistry

from service.aws import new_session
from service.bridge.adapters.connect_chat import (
    ATTRIBUTES_MAX_BYTES,
    ConnectChat,
)
from service.bridge.events.content_types import INTERACTIVE_RESPONSE, TYPING
from service.bridge.policy.ratelimit import ConnectRateLimits
from service.errors import (
    AttachmentRejectedError,
    ConfigurationError,
    ConnectQuotaError,
    ContactNotFoundError,
    DependencyUnavailableError,
    InvalidRequestError,
    MessageTooLargeError,
    ParticipantAccessDeniedError,
    ThrottledError,
)
from service.local import constants

INSTANCE_ID = constants.CONNECT_INSTANCE_ID
FLOW_ID = constants.CONTACT_FLOW_ID
PDF = b"%PDF-1.4 invented test document\n%%EOF\n"


async def _start(chat: ConnectChat, key: str = "start-1", **overrides):
    params: dict[str, Any] = {
        "instance_id": INSTANCE_ID,
        "contact_flow_id": FLOW_ID,
        "display_name": "Ana",
        "attributes": {"Channel": "WHATSAPP", "customerName": "Ana"},
        "initial_message": "hola",
        "chat_duration_minutes": None,
        "client_token": key,
    }
    params.update(overrides)
    return await chat.start_chat(**params)


async def _connected(chat: ConnectChat, key: str = "start-1"):
    started = await _start(chat, key)
    connection = await chat.create_connection(participant_token=started.participant_token)
    return started, connection


async def _contact(sandbox, contact_id: str):
    response = await sandbox.get(f"/sandbox/contacts/{contact_id}")
    response.raise_for_status()
    return response.json()


async def _fault(sandbox, **body):
    response = await sandbox.post("/sandbox/faults", json=body)
    assert response.status_code == 200, response.text


async def _sim_now(sandbox) -> datetime:
    clock = (await sandbox.get("/sandbox/clock")).json()
    return datetime.fromisoformat(clock["now"])


async def test_full_lifecycle(connect_chat, sandbox, streaming):
    started = await _start(
        connect_chat,
        customer_id="cust-1",
        chat_duration_minutes=24 * 60,
        attributes={"Channel": "WHATSAPP", "customerName": "Ana", "businessNumber": "15550001111"},
    )
    streaming_id = await connect_chat.start_streaming(
        instance_id=INSTANCE_ID, contact_id=started.contact_id, client_token="stream-1"
    )
    connection = await connect_chat.create_connection(participant_token=started.participant_token)
    sent = await connect_chat.send_message(
        connection_token=connection.connection_token, content="necesito ayuda", client_token="m-1"
    )
    answer = await connect_chat.send_message(
        connection_token=connection.connection_token,
        content='{"data": {"title": "Pedido"}}',
        content_type=INTERACTIVE_RESPONSE,
        client_token="m-2",
    )
    await connect_chat.send_event(
        connection_token=connection.connection_token, content_type=TYPING, client_token="e-1"
    )
    await connect_chat.send_receipt(
        connection_token=connection.connection_token,
        message_id=sent.id,
        read=True,
        client_token="r-1",
    )

    record = await _contact(sandbox, started.contact_id)
    assert record["state"] == "CONNECTED"
    assert record["attributes"] == {
        "Channel": "WHATSAPP",
        "customerName": "Ana",
        "businessNumber": "15550001111",
    }
    assert record["customerId"] == "cust-1"
    assert record["participants"][0]["displayName"] == "Ana"
    assert record["participants"][0]["participantId"] == started.participant_id
    ends = datetime.fromisoformat(record["endsAt"]) - datetime.fromisoformat(record["startedAt"])
    assert ends == timedelta(minutes=24 * 60)
    assert record["streaming"][0]["streamingId"] == streaming_id
    assert record["streaming"][0]["topicArn"] == streaming.topic_arn
    transcript = [(i["contentType"], i["content"], i["clientToken"]) for i in record["transcript"]]
    assert ("text/plain", "hola", None) in transcript
    assert ("text/plain", "necesito ayuda", "m-1") in transcript
    assert (INTERACTIVE_RESPONSE, '{"data": {"title": "Pedido"}}', "m-2") in transcript
    assert (TYPING, None, "e-1") in transcript
    [message] = [i for i in record["transcript"] if i["id"] == sent.id]
    assert datetime.fromisoformat(message["time"]) == sent.absolute_time
    assert message["receipts"][started.participant_id]["ReadTimestamp"]
    assert answer.id != sent.id
    # Connect streams what the customer sent to the outbound topic the adapter gave it.
    streamed = await streaming.drain(3)
    assert {body.get("Content") for body in streamed} >= {"necesito ayuda"}

    await connect_chat.disconnect(connection_token=connection.connection_token, client_token="d-1")
    assert (await _contact(sandbox, started.contact_id))["state"] == "ENDED"


async def test_connection_expiry_is_reported_as_a_datetime(connect_chat, sandbox):
    _, connection = await _connected(connect_chat)

    now = await _sim_now(sandbox)
    assert connection.expires_at.tzinfo is not None
    assert connection.expires_at - now == pytest.approx(timedelta(days=1), abs=timedelta(seconds=5))


async def test_retries_with_the_same_client_tokens_are_absorbed(connect_chat, sandbox):
    first, connection = await _connected(connect_chat, "start-same")
    again = await _start(connect_chat, "start-same")
    token = connection.connection_token

    sent = await connect_chat.send_message(
        connection_token=token, content="P12345", client_token="msg-same"
    )
    resent = await connect_chat.send_message(
        connection_token=token, content="P12345", client_token="msg-same"
    )
    attachment = await connect_chat.send_attachment(
        connection_token=token,
        name="factura.pdf",
        content_type="application/pdf",
        data=PDF,
        client_token="att-same",
    )
    reattached = await connect_chat.send_attachment(
        connection_token=token,
        name="factura.pdf",
        content_type="application/pdf",
        data=PDF,
        client_token="att-same",
    )

    assert again == first
    assert resent == sent
    assert reattached == attachment
    record = await _contact(sandbox, first.contact_id)
    assert len((await sandbox.get("/sandbox/contacts")).json()["contacts"]) == 1
    assert [i["content"] for i in record["transcript"]].count("P12345") == 1
    assert len(record["attachments"]) == 1
    assert [i["type"] for i in record["transcript"]].count("ATTACHMENT") == 1


async def test_access_denied_after_the_chat_ended_even_after_reconnecting(connect_chat, sandbox):
    started, connection = await _connected(connect_chat)
    (await sandbox.post(f"/sandbox/contacts/{started.contact_id}/end")).raise_for_status()

    with pytest.raises(ParticipantAccessDeniedError):
        await connect_chat.send_message(
            connection_token=connection.connection_token, content="hola?", client_token="m-1"
        )
    with pytest.raises(ParticipantAccessDeniedError):
        await connect_chat.create_connection(participant_token=started.participant_token)


async def test_expired_connection_is_denied_then_reconnecting_recovers(connect_chat, sandbox):
    started, connection = await _connected(connect_chat)
    await _fault(sandbox, action="expire_connection_tokens")

    with pytest.raises(ParticipantAccessDeniedError) as denied:
        await connect_chat.send_message(
            connection_token=connection.connection_token, content="sigo aqui", client_token="m-1"
        )
    assert isinstance(denied.value.__cause__, ClientError)

    fresh = await connect_chat.create_connection(participant_token=started.participant_token)
    assert fresh.connection_token != connection.connection_token
    await connect_chat.send_message(
        connection_token=fresh.connection_token, content="sigo aqui", client_token="m-1"
    )
    record = await _contact(sandbox, started.contact_id)
    assert record["transcript"][-1]["content"] == "sigo aqui"


async def test_throttling_is_a_throttled_error(connect_chat, sandbox):
    _, connection = await _connected(connect_chat)
    await _fault(sandbox, operation="SendMessage", error="ThrottlingException", count=1)

    with pytest.raises(ThrottledError):
        await connect_chat.send_message(
            connection_token=connection.connection_token, content="x", client_token="m-1"
        )
    # The fault is used up: the same call now goes through.
    await connect_chat.send_message(
        connection_token=connection.connection_token, content="x", client_token="m-1"
    )


async def test_concurrent_chats_quota_is_a_retryable_quota_error(connect_chat, sandbox):
    await sandbox.post("/sandbox/config", json={"max_active_chats": 0})

    with pytest.raises(ConnectQuotaError):
        await _start(connect_chat)


async def test_server_errors_are_dependency_unavailable(connect_chat, sandbox):
    _, connection = await _connected(connect_chat)
    await _fault(sandbox, operation="SendEvent", error="InternalServerException", count=1)

    with pytest.raises(DependencyUnavailableError):
        await connect_chat.send_event(
            connection_token=connection.connection_token, content_type=TYPING, client_token="e-1"
        )


async def test_known_codes_are_translated_and_unknown_ones_retried(connect_chat, sandbox):
    _, connection = await _connected(connect_chat)
    await _fault(sandbox, operation="SendMessage", error="InvalidRequestException", count=1)
    with pytest.raises(InvalidRequestError):
        await connect_chat.send_message(
            connection_token=connection.connection_token, content="x", client_token="m-1"
        )

    # A code no rule names: retried by the caller (bounded), never a raw ClientError.
    await _fault(sandbox, operation="SendMessage", error="NoSuchThingException", count=1)
    with pytest.raises(DependencyUnavailableError) as raised:
        await connect_chat.send_message(
            connection_token=connection.connection_token, content="x", client_token="m-2"
        )
    assert isinstance(raised.value.__cause__, ClientError)
    assert raised.value.__cause__.response["Error"]["Code"] == "NoSuchThingException"


async def test_text_over_the_channel_limit_is_message_too_large(connect_chat, sandbox):
    (await sandbox.post("/sandbox/config", json={"connect_text_limit": 50})).raise_for_status()

    with pytest.raises(MessageTooLargeError):
        await _start(connect_chat, "start-long", initial_message="x" * 51)
    _, connection = await _connected(connect_chat)
    with pytest.raises(MessageTooLargeError):
        await connect_chat.send_message(
            connection_token=connection.connection_token, content="y" * 51, client_token="m-1"
        )
    sent = await connect_chat.send_message(
        connection_token=connection.connection_token, content="y" * 50, client_token="m-2"
    )
    assert sent.id


async def test_oversized_attributes_are_truncated_not_refused(connect_chat, sandbox):
    started = await _start(
        connect_chat,
        attributes={"Channel": "WHATSAPP", "firstMessage": "é" * 40000, "notes": "n" * 30000},
    )

    attributes = (await _contact(sandbox, started.contact_id))["attributes"]
    size = sum(len(k.encode()) + len(v.encode()) for k, v in attributes.items())
    assert size <= ATTRIBUTES_MAX_BYTES
    assert attributes["Channel"] == "WHATSAPP"
    assert attributes["firstMessage"].startswith("é" * 100)
    assert attributes["firstMessage"].endswith("…")
    assert attributes["notes"].startswith("n" * 100)


async def test_attachment_reaches_the_transcript(connect_chat, sandbox, streaming):
    started, connection = await _connected(connect_chat)

    attachment_id = await connect_chat.send_attachment(
        connection_token=connection.connection_token,
        name="factura.pdf",
        content_type="application/pdf",
        data=PDF,
        client_token="att-1",
    )

    page = await connect_chat.get_transcript(connection_token=connection.connection_token)
    [item] = [i for i in page.items if i["Type"] == "ATTACHMENT"]
    assert item["Attachments"][0]["AttachmentId"] == attachment_id
    assert item["Attachments"][0]["AttachmentName"] == "factura.pdf"
    assert item["Attachments"][0]["Status"] == "APPROVED"
    [stored] = (await _contact(sandbox, started.contact_id))["attachments"]
    assert stored == {
        "attachmentId": attachment_id,
        "name": "factura.pdf",
        "contentType": "application/pdf",
        "size": len(PDF),
        "status": "APPROVED",
        "uploaded": True,
    }
    assert page.items[0]["Content"] == "hola"  # oldest first


async def test_refused_attachment_type_is_attachment_rejected(connect_chat):
    _, connection = await _connected(connect_chat)

    with pytest.raises(AttachmentRejectedError):
        await connect_chat.send_attachment(
            connection_token=connection.connection_token,
            name="sticker.webp",
            content_type="image/webp",
            data=b"RIFF0000WEBP",
            client_token="att-1",
        )


async def test_unknown_flow_is_a_configuration_error_and_unknown_contact_not_found(
    connect_chat,
):
    with pytest.raises(ConfigurationError):
        await _start(connect_chat, contact_flow_id="00000000-0000-4000-8000-000000000000")
    with pytest.raises(ContactNotFoundError):
        await connect_chat.start_streaming(
            instance_id=INSTANCE_ID,
            contact_id="00000000-0000-4000-8000-000000000000",
            client_token="stream-1",
        )


async def test_chat_duration_outside_connects_range_is_refused_before_calling(connect_chat):
    with pytest.raises(ValueError, match=r"60\.\.10080"):
        await _start(connect_chat, chat_duration_minutes=59)


async def test_unreachable_endpoint_is_dependency_unavailable(sim, streaming):
    config = AioConfig(retries={"total_max_attempts": 1}, connect_timeout=2)
    session = new_session()
    # Port 9 (discard) on loopback: nothing listens, the connection is refused.
    async with (
        session.create_client(
            "connectparticipant", endpoint_url="http://127.0.0.1:9", config=config
        ) as participant,
        session.create_client("connect", config=config) as connect,
        aiohttp.ClientSession() as http,
    ):
        chat = ConnectChat(
            connect=connect,
            participant=participant,
            limits=ConnectRateLimits(registry=CollectorRegistry()),
            streaming_topic_arn=streaming.topic_arn,
            participant_scope=INSTANCE_ID,
            http=http,
        )
        with pytest.raises(DependencyUnavailableError):
            await chat.create_connection(participant_token="ptok-anything")
