"""Issue-level acceptance of the outbound path: agent → Connect streaming → WhatsApp.

The real bridge (`run_bridge`, inbound and outbound wired as in production) runs against
the embedded AWS and the simulator: a customer's burst creates the chat and the session;
the sandbox agent's messages go Connect streaming → SNS → SQS → bridge → EUM Social (the
simulator's outbox), all over HTTP. A second, unfiltered subscription ("tap") to the
outbound topic shows what Connect streamed, so a test can redeliver it as SNS would.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import statistics
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from service.aws import AwsClients
from service.bridge.events.connect import ParticipantRole, parse_streaming_record
from tests.e2e.conftest import Sandbox, bridge_settings, text
from tests.support.bridge import RunningBridge
from tests.support.media import make_wav
from tests.support.waiting import eventually

WA_ID = "5215512345678"
CLOSING = "Thanks for writing to us. This chat is closed."


@pytest.fixture
async def bridge(sim, resources) -> AsyncIterator[httpx.AsyncClient]:
    settings = bridge_settings(
        resources, whatsapp_mark_read="on_agent_read", outbound_closing_message=CLOSING
    )
    async with RunningBridge(settings) as admin:
        yield admin


@dataclass
class Outbound:
    clients: AwsClients
    resources: Any
    tap_url: str
    admin: httpx.AsyncClient
    streamed: list[str] = field(default_factory=list)

    async def bodies(self) -> list[str]:
        """Every SQS body Connect streaming produced so far (SNS envelopes)."""
        answer = await self.clients.sqs.receive_message(
            QueueUrl=self.tap_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        for message in answer.get("Messages", []):
            self.streamed.append(message["Body"])
            await self.clients.sqs.delete_message(
                QueueUrl=self.tap_url, ReceiptHandle=message["ReceiptHandle"]
            )
        return self.streamed

    async def redeliver(self, body: str) -> None:
        """SNS/SQS deliver the same Connect item again."""
        url = self.resources.queue_url(self.resources.names.outbound_queue)
        await self.clients.sqs.send_message(QueueUrl=url, MessageBody=body)

    async def handled(self) -> float:
        metrics = (await self.admin.get("/metrics")).text
        total = 0.0
        for line in metrics.splitlines():
            if line.startswith("bridge_sqs_messages_total{") and 'queue="outbound"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total


@pytest.fixture
async def outbound(bridge, resources, aws_clients: AwsClients) -> Outbound:
    sqs, sns = aws_clients.sqs, aws_clients.sns
    tap_url = (await sqs.create_queue(QueueName="test-connect-out-tap"))["QueueUrl"]
    tap_arn = (await sqs.get_queue_attributes(QueueUrl=tap_url, AttributeNames=["QueueArn"]))[
        "Attributes"
    ]["QueueArn"]
    await sns.subscribe(TopicArn=resources.outbound_topic_arn, Protocol="sqs", Endpoint=tap_arn)
    return Outbound(aws_clients, resources, tap_url, bridge)


async def _chat(
    world: Sandbox, wa_id: str = WA_ID, *, admin: httpx.AsyncClient | None = None
) -> dict[str, Any]:
    """The customer writes; the running bridge opens the chat and joins it.

    The first message travels inside StartChatContact, so it is in the transcript before
    the bridge has joined (CreateParticipantConnection) and stored the session; a test
    that ended the chat in that moment would test another story. With `admin`, also wait
    for the bridge's session.
    """
    await world.send(wa_id, text("Hello, I need help"))

    async def joined() -> dict[str, Any] | None:
        for contact in await world.contacts():
            if contact["transcript"] and contact["state"] == "CONNECTED":
                return contact
        return None

    contact: dict[str, Any] = await eventually(joined)
    if admin is not None:

        async def stored() -> bool:
            sessions = (await admin.get("/admin/sessions")).json()["sessions"]
            return any(s["initial_contact_id"] == contact["contactId"] for s in sessions)

        await eventually(stored)
    return contact


async def _agent(sandbox: httpx.AsyncClient, contact_id: str, **body: Any) -> dict[str, Any]:
    response = await sandbox.post(f"/sandbox/contacts/{contact_id}/agent/messages", json=body)
    response.raise_for_status()
    item: dict[str, Any] = response.json()
    return item


async def _outbox_of(world: Sandbox, count: int, kind: str | None = None) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        found = [
            m
            for m in await world.outbox()
            if m["type"] not in {"read", "reaction"} and (kind is None or m["type"] == kind)
        ]
        return found if len(found) >= count else None

    result: list[dict[str, Any]] = await eventually(enough)
    return result


async def _settled(outbound: Outbound, handled: float) -> None:
    async def done() -> bool:
        return await outbound.handled() >= handled

    await eventually(done)


def _bodies(messages: list[dict[str, Any]]) -> list[str]:
    return [m["message"]["text"]["body"] for m in messages if m["type"] == "text"]


async def test_agent_text_and_markdown_reach_the_customer_in_order(
    outbound, bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    contact = await _chat(world)
    await _agent(sandbox, contact["contactId"], text="Hi, I am Luis")
    await _agent(
        sandbox,
        contact["contactId"],
        contentType="text/markdown",
        content="**Order** P12345 is ~~late~~ _on its way_:\n* track it [here](https://x.example/t)",
    )
    sent = await _outbox_of(world, 2)
    assert _bodies(sent) == [
        "Hi, I am Luis",
        "*Order* P12345 is ~late~ _on its way_:\n- track it here (https://x.example/t)",
    ]
    assert all(m["recipient"].lstrip("+") == WA_ID for m in sent)


async def test_an_agent_message_whose_streaming_runs_late_still_goes_first(
    outbound, bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    """SNS gives no order: the second reply's streaming event is published 3 s after the
    third's, far beyond the reorder window. Connect's transcript shows the lane that an
    earlier reply is on its way, and the lane holds the third until it arrives."""
    contact = await _chat(world)
    await _agent(sandbox, contact["contactId"], text="Let me check your order")
    await _outbox_of(world, 1)
    await _agent(sandbox, contact["contactId"], text="It left today", streamDelayMs=3000)
    await _agent(sandbox, contact["contactId"], text="It arrives Friday")

    sent = await _outbox_of(world, 3)

    assert _bodies(sent) == ["Let me check your order", "It left today", "It arrives Friday"]


async def test_a_chats_first_reply_running_late_is_not_overtaken(
    outbound, bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    """No earlier reply primes anything: the raw table shows the first one not written yet."""
    contact = await _chat(world)
    await _agent(sandbox, contact["contactId"], text="Hello, I am Ana", streamDelayMs=3000)
    await _agent(sandbox, contact["contactId"], text="How can I help?")

    sent = await _outbox_of(world, 2)

    assert _bodies(sent) == ["Hello, I am Ana", "How can I help?"]


async def test_a_long_agent_text_is_split_to_whatsapp_limit(
    outbound, bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    contact = await _chat(world)
    long_text = " ".join(f"w{i:04d}" for i in range(1500))  # 8,999 characters
    await _agent(sandbox, contact["contactId"], text=long_text)

    async def complete() -> list[str] | None:
        bodies = _bodies(await world.outbox())
        return bodies if " ".join(bodies).split() == long_text.split() else None

    bodies = await eventually(complete)
    assert len(bodies) == 3
    assert all(len(b) <= 4096 for b in bodies)


async def test_a_duplicate_delivery_sends_one_whatsapp_message(
    outbound: Outbound, bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    contact = await _chat(world)
    item = await _agent(sandbox, contact["contactId"], text="Only once")
    await _outbox_of(world, 1)

    async def streamed() -> list[str]:
        return [b for b in await outbound.bodies() if item["id"] in b]

    [body] = await eventually(streamed)
    handled = await outbound.handled()
    await outbound.redeliver(body)
    await outbound.redeliver(body)
    await _settled(outbound, handled + 2)
    await _agent(sandbox, contact["contactId"], text="after")  # a fence: handled later
    sent = await _outbox_of(world, 2)
    assert _bodies(sent) == ["Only once", "after"]


async def test_the_customers_own_messages_are_never_echoed_back(
    outbound: Outbound, bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    contact = await _chat(world)
    await world.send(WA_ID, text("second customer message"))

    async def both_in_connect() -> bool:
        return len(await world.customer_messages()) == 2

    await eventually(both_in_connect)
    await _agent(sandbox, contact["contactId"], text="agent reply")
    sent = await _outbox_of(world, 1)
    customer_items = sum(
        1
        for body in await outbound.bodies()
        if parse_streaming_record(body).participant_role == ParticipantRole.CUSTOMER
        and parse_streaming_record(body).kind == "message"
    )
    assert customer_items >= 1, "the customer's messages did come back through streaming"
    assert _bodies(sent) == ["agent reply"]


async def test_a_reply_after_a_transfer_is_delivered(
    outbound, bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    contact = await _chat(world)
    response = await sandbox.post(f"/sandbox/contacts/{contact['contactId']}/transfer")
    response.raise_for_status()
    moved = response.json()
    assert moved["contactId"] != contact["contactId"]
    assert moved["initialContactId"] == contact["initialContactId"]
    await _agent(sandbox, moved["contactId"], text="I am the second agent")
    sent = await _outbox_of(world, 1)
    assert _bodies(sent) == ["I am the second agent"]


async def test_chat_end_deletes_the_session_and_the_next_message_starts_a_new_chat(
    outbound, bridge: httpx.AsyncClient, world: Sandbox, sandbox: httpx.AsyncClient
):
    contact = await _chat(world, admin=bridge)
    response = await sandbox.post(f"/sandbox/contacts/{contact['contactId']}/end")
    response.raise_for_status()
    sent = await _outbox_of(world, 1)
    assert _bodies(sent) == [CLOSING]

    async def session_gone() -> bool:
        answer = await bridge.get("/admin/sessions")
        answer.raise_for_status()
        return not answer.json()["sessions"]

    await eventually(session_gone)
    await world.send(WA_ID, text("I am back"))

    async def second_chat() -> list[dict[str, Any]] | None:
        contacts = await world.contacts()
        return contacts if len(contacts) == 2 else None

    contacts = await eventually(second_chat)
    assert len({c["initialContactId"] for c in contacts}) == 2


async def test_participant_left_keeps_the_session_for_the_disconnect_flow(
    outbound, bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    contact = await _chat(world)
    await _agent(sandbox, contact["contactId"], text="first agent here")
    await _outbox_of(world, 1)
    # A transfer makes the first agent leave: participant.left, then the flow talks on.
    response = await sandbox.post(f"/sandbox/contacts/{contact['contactId']}/transfer")
    response.raise_for_status()
    await _agent(sandbox, response.json()["contactId"], text="from the queue flow")
    sent = await _outbox_of(world, 2)
    assert _bodies(sent) == ["first agent here", "from the queue flow"]


async def test_an_agent_read_marks_the_customers_messages_read(
    outbound, bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    contact = await _chat(world)
    customer_item = [
        i
        for i in contact["transcript"]
        if i["participantRole"] == "CUSTOMER" and i["contentType"] == "text/plain"
    ][-1]
    wamid = (await sandbox.get("/sandbox/whatsapp/inbound")).json()["messages"][-1]["messageId"]
    before = [m for m in await world.outbox() if m["type"] == "read"]
    response = await sandbox.post(
        f"/sandbox/contacts/{contact['contactId']}/agent/events",
        json={"type": "read", "messageId": customer_item["id"]},
    )
    response.raise_for_status()

    async def marked() -> list[dict[str, Any]] | None:
        reads = [m for m in await world.outbox() if m["type"] == "read"]
        return reads if len(reads) > len(before) else None

    reads = await eventually(marked)
    assert reads[-1]["message"]["message_id"] == wamid


async def test_agent_typing_shows_a_typing_indicator_rate_limited(
    outbound, bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    contact = await _chat(world)
    for _ in range(3):
        response = await sandbox.post(
            f"/sandbox/contacts/{contact['contactId']}/agent/events", json={"type": "typing"}
        )
        response.raise_for_status()

    def typing(outbox: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [m for m in outbox if m["message"].get("typing_indicator")]

    async def shown() -> list[dict[str, Any]]:
        return typing(await world.outbox())

    [indicator] = await eventually(shown)
    assert indicator["message"]["typing_indicator"] == {"type": "text"}
    await _agent(sandbox, contact["contactId"], text="fence")
    await _outbox_of(world, 1, kind="text")
    assert len(typing(await world.outbox())) == 1


async def test_list_picker_and_quick_reply_become_whatsapp_interactive(
    outbound, bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    contact = await _chat(world)
    list_picker = {
        "templateType": "ListPicker",
        "version": "1.0",
        "data": {
            "content": {
                "title": "What can we help with?",
                "elements": [{"title": t} for t in ("Billing", "Orders", "Returns", "Other")],
            }
        },
    }
    quick_reply = {
        "templateType": "QuickReply",
        "version": "1.0",
        "data": {"content": {"title": "Solved?", "elements": [{"title": "Yes"}, {"title": "No"}]}},
    }
    interactive = "application/vnd.amazonaws.connect.message.interactive"
    await _agent(
        sandbox, contact["contactId"], contentType=interactive, content=json.dumps(list_picker)
    )
    await _agent(
        sandbox, contact["contactId"], contentType=interactive, content=json.dumps(quick_reply)
    )
    first, second = await _outbox_of(world, 2, kind="interactive")
    assert first["message"]["interactive"]["type"] == "list"
    rows = first["message"]["interactive"]["action"]["sections"][0]["rows"]
    assert [r["title"] for r in rows] == ["Billing", "Orders", "Returns", "Other"]
    assert second["message"]["interactive"]["type"] == "button"
    buttons = second["message"]["interactive"]["action"]["buttons"]
    assert [b["reply"]["title"] for b in buttons] == ["Yes", "No"]


@pytest.mark.parametrize(
    ("name", "content_type", "kind"),
    [
        ("invoice.pdf", "application/pdf", "document"),
        ("photo.png", "image/png", "image"),
        # Not a real wav: the conversion to Ogg/Opus fails and the file goes as it was.
        ("voice.wav", "audio/wav", "document"),
    ],
)
async def test_agent_attachments_reach_the_customer_as_whatsapp_media(
    outbound, bridge, world: Sandbox, sandbox: httpx.AsyncClient, *, name, content_type, kind
):
    contact = await _chat(world)
    data = b"%PDF-1.4 fake" if kind == "document" else b"\x89PNG\r\n\x1a\n fake image"
    response = await sandbox.post(
        f"/sandbox/contacts/{contact['contactId']}/agent/attachments",
        json={
            "name": name,
            "contentType": content_type,
            "contentBase64": base64.b64encode(data).decode(),
        },
    )
    response.raise_for_status()
    [sent] = await _outbox_of(world, 1, kind=kind)
    part = sent["message"][kind]
    if "id" in part:
        media = (await sandbox.get("/sandbox/whatsapp/media")).json()["media"]
        assert any(m["mediaId"] == part["id"] for m in media)
    else:
        async with httpx.AsyncClient() as http:  # the presigned link serves the file
            assert (await http.get(part["link"])).content == data
    if kind == "document":
        assert part["filename"] == name


@pytest.mark.parametrize("content_type", ["audio/wav", "audio/x-wav"])
async def test_an_agents_wav_recording_reaches_the_customer_as_playable_ogg_opus_audio(
    outbound, bridge, world: Sandbox, sandbox: httpx.AsyncClient, tmp_path: Path, *, content_type
):
    contact = await _chat(world)
    wav = make_wav(tmp_path / "recording.wav", seconds=10.0, rate=48_000, channels=1)
    item = (
        await sandbox.post(
            f"/sandbox/contacts/{contact['contactId']}/agent/attachments",
            json={
                "name": "recording.wav",
                "contentType": content_type,
                "contentBase64": base64.b64encode(wav.read_bytes()).decode(),
            },
        )
    ).json()
    [sent] = await _outbox_of(world, 1, kind="audio")
    latency = datetime.fromisoformat(sent["time"]) - datetime.fromisoformat(item["time"])
    print(f"agent .wav (10 s, 0.9 MB) → WhatsApp audio: {latency.total_seconds():.2f} s")
    media_id = sent["message"]["audio"]["id"]
    [media] = [
        m
        for m in (await sandbox.get("/sandbox/whatsapp/media")).json()["media"]
        if m["mediaId"] == media_id
    ]
    assert media["mimeType"] == "audio/ogg"
    data = (await sandbox.get(f"/sandbox/whatsapp/media/{media_id}")).content
    with av.open(io.BytesIO(data), mode="r") as ogg:
        [stream] = ogg.streams.audio
        assert ogg.format.name == "ogg"
        assert (stream.codec_context.name, stream.codec_context.channels) == ("opus", 1)
        samples = sum(frame.samples for frame in ogg.decode(audio=0))
    assert samples / 48_000 == pytest.approx(10.0, abs=0.1)
    assert len(data) < 60_000  # ~32 kbps, where the wav was 960 KB


async def test_whatsapp_read_status_reaches_connect_and_131047_becomes_a_note(
    outbound, bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    contact = await _chat(world)
    item = await _agent(sandbox, contact["contactId"], text="Your refund is approved")
    await _agent(sandbox, contact["contactId"], text="Anything else?")
    first, second = await _outbox_of(world, 2)
    for body in (
        {"messageId": first["messageId"], "status": "delivered"},
        {"messageId": first["messageId"], "status": "read"},
        {"messageId": second["messageId"], "status": "failed", "errorCode": 131047},
    ):
        (await sandbox.post("/sandbox/whatsapp/statuses", json=body)).raise_for_status()

    async def receipted() -> dict[str, Any] | None:
        [chat] = await world.contacts()
        [agent_item] = [i for i in chat["transcript"] if i["id"] == item["id"]]
        stamps = list(agent_item["receipts"].values())
        return agent_item if stamps and "ReadTimestamp" in stamps[0] else None

    await eventually(receipted)

    async def noted() -> list[dict[str, Any]] | None:
        [chat] = await world.contacts()
        notes = [i for i in chat["transcript"] if (i["content"] or "").startswith("⚠️")]
        return notes or None

    [note] = await eventually(noted)
    assert "24 hours" in note["content"]
    assert "template" in note["content"]
    # In the bridge's own voice, never the customer's (DESIGN §6) ...
    assert note["participantRole"] == "CUSTOM_BOT"
    assert note["displayName"] == "WhatsApp"
    assert not [c for _, c in await world.customer_messages() if c.startswith("⚠️")]

    # ... and streamed like every item, yet never sent to WhatsApp: once the outbound path
    # has recognised it as the bridge's own, only the agent's two texts are in the outbox.
    async def recognised() -> bool:
        metrics = (await outbound.admin.get("/metrics")).text
        return 'action="own_voice"' in metrics

    await eventually(recognised)
    texts = [m["message"]["text"]["body"] for m in await world.outbox() if m["type"] == "text"]
    assert texts == ["Your refund is approved", "Anything else?"]


async def test_latency_from_agent_message_to_whatsapp_send(
    outbound, bridge, world: Sandbox, sandbox: httpx.AsyncClient
):
    """Measured, for the closing note: AbsoluteTime of the agent item → outbox time.

    Ten messages: within the pair-rate burst, so pacing adds nothing.
    """
    contact = await _chat(world)
    items = []
    for i in range(10):
        items.append(await _agent(sandbox, contact["contactId"], text=f"m{i}"))
        await asyncio.sleep(0.05)
    sent = await _outbox_of(world, 10)
    by_body = {m["message"]["text"]["body"]: m for m in sent}
    latencies = sorted(
        (
            datetime.fromisoformat(by_body[item["content"]]["time"])
            - datetime.fromisoformat(item["time"])
        ).total_seconds()
        for item in items
    )
    p50 = statistics.median(latencies)
    p99 = latencies[-1]
    print(f"outbound latency p50={p50 * 1000:.0f} ms p99={p99 * 1000:.0f} ms")
    assert _bodies(sent) == [f"m{i}" for i in range(10)]
    assert p99 < 10
