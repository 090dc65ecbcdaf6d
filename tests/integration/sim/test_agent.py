"""The agent side and contact streaming: what Connect publishes to the streaming topic.

Shapes checked against reference §3.3: the body is the Participant `Item` plus
`InitialContactId`/`ContactId`; the SNS MessageAttributes carry the ids, role, instance,
account, type, content type and visibility (`ParticipantRole` absent on chat.ended).
"""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest

from service.local import constants

EVENT = "application/vnd.amazonaws.connect.event."
ITEM_KEYS = {"AbsoluteTime", "Id", "Type", "ContactId", "InitialContactId"}


async def _streamed_chat(kit):
    topic, queue = await kit.topic_and_queue("connect-out")
    chat, token = await kit.connected_chat()
    await kit.clients.connect.start_contact_streaming(
        InstanceId=constants.CONNECT_INSTANCE_ID,
        ContactId=chat["ContactId"],
        ChatStreamingConfiguration={"StreamingEndpointArn": topic},
        ClientToken="stream",
    )
    return chat, token, queue


def _attributes(envelope) -> dict[str, str]:
    return {name: value["Value"] for name, value in envelope["MessageAttributes"].items()}


async def test_agent_message_streams_join_then_message_with_reference_shape(kit):
    chat, _, queue = await _streamed_chat(kit)
    answer = await kit.sandbox.post(
        f"/sandbox/contacts/{chat['ContactId']}/agent/messages",
        json={"text": "Hola Ana, soy Luis", "displayName": "Luis"},
    )
    assert answer.status_code == 200

    joined, message = await kit.drain(queue, 2)
    joined_body = json.loads(joined["Message"])
    body = json.loads(message["Message"])
    assert joined_body["ContentType"] == EVENT + "participant.joined"
    assert joined_body["ParticipantRole"] == "AGENT"
    assert ITEM_KEYS | {"Content", "ContentType", "ParticipantId", "DisplayName"} <= set(body)
    assert body["Content"] == "Hola Ana, soy Luis"
    assert body["Type"] == "MESSAGE"
    assert body["DisplayName"] == "Luis"
    assert body["Id"] == answer.json()["id"]
    assert body["InitialContactId"] == body["ContactId"] == chat["ContactId"]
    assert body["AbsoluteTime"].endswith("Z")
    assert _attributes(message) == {
        "InitialContactId": chat["ContactId"],
        "ContactId": chat["ContactId"],
        "ParticipantRole": "AGENT",
        "InstanceId": constants.CONNECT_INSTANCE_ID,
        "AccountId": constants.ACCOUNT_ID,
        "Type": "MESSAGE",
        "ContentType": "text/plain",
        "MessageVisibility": "ALL",
    }


async def test_agent_joins_only_once(kit):
    chat, _, queue = await _streamed_chat(kit)
    for text in ("uno", "dos"):
        await kit.sandbox.post(
            f"/sandbox/contacts/{chat['ContactId']}/agent/messages", json={"text": text}
        )
    envelopes = await kit.drain(queue, 3)
    kinds = [json.loads(envelope["Message"]).get("Content", "joined") for envelope in envelopes]
    assert kinds == ["joined", "uno", "dos"]
    await kit.assert_quiet(queue)


async def test_customer_messages_stream_with_customer_role(kit):
    _, token, queue = await _streamed_chat(kit)
    await kit.clients.participant.send_message(
        ConnectionToken=token, ContentType="text/plain", Content="desde WhatsApp"
    )
    [envelope] = await kit.drain(queue, 1)
    assert _attributes(envelope)["ParticipantRole"] == "CUSTOMER"
    assert json.loads(envelope["Message"])["Content"] == "desde WhatsApp"


async def test_agent_typing_goes_to_the_customer_and_receipts_reference_the_message(kit):
    chat, token, queue = await _streamed_chat(kit)
    sent = await kit.clients.participant.send_message(
        ConnectionToken=token, ContentType="text/plain", Content="hola"
    )
    contact_id = chat["ContactId"]
    await kit.sandbox.post(f"/sandbox/contacts/{contact_id}/agent/events", json={"type": "typing"})
    read = await kit.sandbox.post(
        f"/sandbox/contacts/{contact_id}/agent/events",
        json={"type": "read", "messageId": sent["Id"]},
    )
    assert read.status_code == 200

    _, _, typing, receipt = await kit.drain(queue, 4)
    assert _attributes(typing)["MessageVisibility"] == "CUSTOMER"
    assert json.loads(typing["Message"])["ContentType"] == EVENT + "typing"
    assert _attributes(receipt)["ContentType"] == EVENT + "message.read"
    assert json.loads(json.loads(receipt["Message"])["Content"]) == {"messageId": sent["Id"]}


async def test_receipt_for_an_unknown_message_is_rejected(kit):
    chat, _, _ = await _streamed_chat(kit)
    answer = await kit.sandbox.post(
        f"/sandbox/contacts/{chat['ContactId']}/agent/events",
        json={"type": "delivered", "messageId": "no-such-item"},
    )
    assert answer.status_code == 404


async def test_agent_attachment_streams_and_is_downloadable_by_the_customer(kit):
    chat, token, queue = await _streamed_chat(kit)
    data = b"%PDF factura"
    answer = await kit.sandbox.post(
        f"/sandbox/contacts/{chat['ContactId']}/agent/attachments",
        json={
            "name": "factura.pdf",
            "contentType": "application/pdf",
            "contentBase64": base64.b64encode(data).decode(),
        },
    )
    assert answer.status_code == 200

    _, envelope = await kit.drain(queue, 2)
    body = json.loads(envelope["Message"])
    assert body["Type"] == "ATTACHMENT"
    [attachment] = body["Attachments"]
    assert attachment["AttachmentName"] == "factura.pdf"
    assert attachment["ContentType"] == "application/pdf"
    assert attachment["Status"] == "APPROVED"
    assert _attributes(envelope)["Type"] == "ATTACHMENT"

    got = await kit.clients.participant.get_attachment(
        ConnectionToken=token, AttachmentId=attachment["AttachmentId"]
    )
    async with httpx.AsyncClient() as http:
        assert (await http.get(got["Url"])).content == data


async def test_end_publishes_agent_left_then_chat_ended_without_role(kit):
    chat, token, queue = await _streamed_chat(kit)
    await kit.sandbox.post(
        f"/sandbox/contacts/{chat['ContactId']}/agent/messages", json={"text": "adiós"}
    )
    await kit.sandbox.post(f"/sandbox/contacts/{chat['ContactId']}/end")

    *_, left, ended = await kit.drain(queue, 4)
    assert json.loads(left["Message"])["ContentType"] == EVENT + "participant.left"
    assert _attributes(left)["ParticipantRole"] == "AGENT"
    ended_body = json.loads(ended["Message"])
    assert ended_body["ContentType"] == EVENT + "chat.ended"
    assert ended_body["Type"] == "EVENT"
    assert "ParticipantRole" not in ended_body
    assert "ParticipantRole" not in _attributes(ended)
    assert _attributes(ended)["MessageVisibility"] == "ALL"

    with pytest.raises(kit.clients.participant.exceptions.AccessDeniedException):
        await kit.clients.participant.send_message(
            ConnectionToken=token, ContentType="text/plain", Content="¿hola?"
        )
    again = await kit.sandbox.post(f"/sandbox/contacts/{chat['ContactId']}/end")
    assert again.status_code == 409


async def test_transfer_gives_a_new_contact_id_with_the_same_initial_contact_id(kit):
    chat, token, queue = await _streamed_chat(kit)
    await kit.sandbox.post(
        f"/sandbox/contacts/{chat['ContactId']}/agent/messages", json={"text": "te transfiero"}
    )
    transfer = (await kit.sandbox.post(f"/sandbox/contacts/{chat['ContactId']}/transfer")).json()
    new_contact = transfer["contactId"]
    assert new_contact != chat["ContactId"]
    assert transfer["initialContactId"] == chat["ContactId"]

    # The customer's connection carries on; later events carry the new ContactId.
    await kit.clients.participant.send_message(
        ConnectionToken=token, ContentType="text/plain", Content="ok"
    )
    await kit.sandbox.post(f"/sandbox/contacts/{new_contact}/agent/messages", json={"text": "hola"})
    envelopes = await kit.drain(queue, 7)
    bodies = [json.loads(envelope["Message"]) for envelope in envelopes]
    assert [body["ContentType"].removeprefix(EVENT) for body in bodies] == [
        "participant.joined",
        "text/plain",
        "participant.left",
        "transfer.succeeded",
        "text/plain",
        "participant.joined",
        "text/plain",
    ]
    assert {body["InitialContactId"] for body in bodies} == {chat["ContactId"]}
    assert [body["ContactId"] == new_contact for body in bodies] == [
        False, False, False, True, True, True, True,
    ]  # fmt: skip
    assert bodies[-2]["ParticipantId"] != bodies[0]["ParticipantId"]  # a new agent joined
    record = await kit.contact(new_contact)
    assert record["contactIds"] == [chat["ContactId"], new_contact]


async def test_agent_actions_on_unknown_contacts_are_404(kit):
    answer = await kit.sandbox.post(
        "/sandbox/contacts/unknown/agent/messages", json={"text": "hola"}
    )
    assert answer.status_code == 404
    assert "unknown contact" in answer.json()["error"]


async def test_agent_message_body_needs_text_or_content(kit):
    chat = await kit.start_chat()
    empty = await kit.sandbox.post(f"/sandbox/contacts/{chat['ContactId']}/agent/messages", json={})
    assert empty.status_code == 400
    interactive = await kit.sandbox.post(
        f"/sandbox/contacts/{chat['ContactId']}/agent/messages",
        json={
            "contentType": "application/vnd.amazonaws.connect.message.interactive",
            "content": json.dumps({"templateType": "QuickReply", "data": {}}),
        },
    )
    assert interactive.status_code == 200
    assert interactive.json()["contentType"].endswith("message.interactive")


async def test_concurrent_sends_stream_in_transcript_order(kit):
    chat, token, queue = await _streamed_chat(kit)
    await asyncio.gather(
        *(
            kit.clients.participant.send_message(
                ConnectionToken=token, ContentType="text/plain", Content=f"m{index}"
            )
            for index in range(12)
        )
    )
    streamed = [json.loads(envelope["Message"])["Id"] for envelope in await kit.drain(queue, 12)]
    record = await kit.contact(chat["ContactId"])
    appended = [item["id"] for item in record["transcript"] if item["streamedTo"]]
    assert streamed == appended
