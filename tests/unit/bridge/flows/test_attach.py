"""MediaAttacher against fakes of its ports: what is uploaded, what becomes a note."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest

from service.bridge.adapters.inbound_media import StagedMedia
from service.bridge.adapters.ledger import AttachmentPart
from service.bridge.adapters.media_convert import ConversionLimits
from service.bridge.adapters.sessions import Session
from service.bridge.flows.attach import MediaAttacher
from service.bridge.policy.attachments import AttachmentRules
from service.errors import AttachmentRejectedError, ConfigurationError
from tests.fakes.bridge import make_session
from tests.support.media import fixture

SESSION = make_session(
    business="200000000000002",
    customer="5215512345678",
    initial_contact_id="c1",
    wa_id="5215512345678",
)


class FakeStore:
    def __init__(self, data: bytes, mime: str, *, error: Exception | None = None) -> None:
        self.data, self.mime, self.error = data, mime, error
        self.staged: list[str] = []

    async def stage(self, *, origination_id: str, media_id: str) -> StagedMedia:
        del origination_id
        if self.error is not None:
            raise self.error
        self.staged.append(media_id)
        return StagedMedia(key=f"inbound/{media_id}/x", mime_type=self.mime, size=len(self.data))

    async def chunks(self, key: str) -> AsyncIterator[bytes]:
        del key
        for start in range(0, len(self.data), 1000):
            yield self.data[start : start + 1000]

    async def download(self, key: str, path: Path, *, limit_bytes: int) -> int:
        del key, limit_bytes
        await asyncio.to_thread(path.write_bytes, self.data)
        return len(self.data)


class FakeConnect:
    def __init__(self, error: Exception | None = None) -> None:
        self.uploads: list[dict[str, Any]] = []
        self.error = error

    async def upload_attachment(self, **kwargs: Any) -> str:
        if self.error is not None:
            raise self.error
        body = b"".join([chunk async for chunk in kwargs.pop("chunks")()])
        assert len(body) == kwargs["size"]
        self.uploads.append(kwargs | {"body": body})
        return f"att-{len(self.uploads)}"


class FakeConnection:
    def __init__(self) -> None:
        self.notes: list[tuple[str, str]] = []

    async def call(self, session: Session, action: Callable[[str], Awaitable[Any]]) -> Any:
        del session
        return await action("connection-token")

    async def note(self, session: Session, text: str, *, client_token: str) -> bool:
        del session
        self.notes.append((text, client_token))
        return True


class FakeVoiceNotes:
    def __init__(self) -> None:
        self.started: list[dict[str, Any]] = []

    def transcribe_later(self, session: Session, **kwargs: Any) -> None:
        del session
        self.started.append(kwargs)


def attacher(store: FakeStore, connect: FakeConnect, connection: FakeConnection, **kwargs: Any):
    return MediaAttacher(
        connect=cast("Any", connect),
        connection=cast("Any", connection),
        store=cast("Any", store),
        rules=kwargs.pop("rules", AttachmentRules()),
        **kwargs,
    )


def part(kind: str, mime: str, **extra: Any) -> AttachmentPart:
    return AttachmentPart(message_id="w1", media_id="m1", kind=kind, mime_type=mime, **extra)


async def test_a_photo_is_streamed_as_it_is_with_the_part_token():
    store, connect, connection = (
        FakeStore(fixture("photo.jpg"), "image/jpeg"),
        FakeConnect(),
        FakeConnection(),
    )
    attached = await attacher(store, connect, connection).attach(
        SESSION, part("image", "image/jpeg"), token="in-abc-p1"
    )
    assert attached.attachment_id == "att-1"
    [upload] = connect.uploads
    assert upload["name"] == "image.jpg"
    assert upload["content_type"] == "image/jpeg"
    assert upload["client_token"] == "in-abc-p1"
    assert upload["body"] == fixture("photo.jpg")
    assert connection.notes == []


async def test_over_the_size_limit_the_agent_gets_a_note_naming_file_type_size_and_why():
    store, connect, connection = (
        FakeStore(b"x" * 2_000_000, "application/pdf"),
        FakeConnect(),
        FakeConnection(),
    )
    rules = AttachmentRules(max_bytes=1_000_000)
    attached = await attacher(store, connect, connection, rules=rules).attach(
        SESSION, part("document", "application/pdf", filename="scan.pdf"), token="t"
    )
    assert attached.attachment_id is None
    assert connect.uploads == []
    [(text, token)] = connection.notes
    assert "scan.pdf (application/pdf, 1.9 MB)" in text
    assert "larger than the 1.0 MB" in text
    assert token == "t-note"


async def test_a_type_connect_refuses_is_noted_without_fetching_it():
    store, connect, connection = FakeStore(b"", "application/zip"), FakeConnect(), FakeConnection()
    await attacher(store, connect, connection).attach(
        SESSION, part("document", "application/zip", filename="all.zip"), token="t"
    )
    assert store.staged == []
    [(text, _)] = connection.notes
    assert "all.zip (application/zip)" in text
    assert ".zip" in text


async def test_a_3gp_video_is_converted_and_uploaded_as_mp4():
    store = FakeStore(fixture("clip.3gp"), "video/3gpp")
    connect, connection = FakeConnect(), FakeConnection()
    attached = await attacher(store, connect, connection).attach(
        SESSION, part("video", "video/3gpp"), token="t"
    )
    [upload] = connect.uploads
    assert (upload["name"], upload["content_type"]) == ("video.mp4", "video/mp4")
    assert upload["body"][4:8] == b"ftyp"  # an ISO media file, not the 3gp's bytes
    assert upload["body"] != fixture("clip.3gp")
    assert attached.converted is not None
    assert attached.converted.duration_s == pytest.approx(4.0, abs=0.2)
    assert connection.notes == []


async def test_a_3gp_too_costly_to_re_encode_is_a_note_naming_file_type_size_and_why():
    store = FakeStore(fixture("clip.3gp"), "video/3gpp")
    connect, connection = FakeConnect(), FakeConnection()
    limits = ConversionLimits(max_reencode_pixels=1_000)
    await attacher(store, connect, connection, conversion_limits=limits).attach(
        SESSION, part("video", "video/3gpp"), token="t"
    )
    assert connect.uploads == []
    [(text, _)] = connection.notes
    assert "video.3gp (video/3gpp, 0.0 MB)" in text
    assert "h263 video would have to be re-encoded to H.264" in text


async def test_an_allowed_3gp_goes_unconverted():
    store = FakeStore(fixture("clip.3gp"), "video/3gpp")
    connect, connection = FakeConnect(), FakeConnection()
    rules = AttachmentRules(extra_extensions=frozenset({".3gp"}))
    await attacher(store, connect, connection, rules=rules).attach(
        SESSION, part("video", "video/3gpp"), token="t"
    )
    [upload] = connect.uploads
    assert (upload["name"], upload["content_type"]) == ("video.3gp", "video/3gpp")
    assert upload["body"] == fixture("clip.3gp")


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (
            AttachmentRejectedError("The number of attachments per contact exceeds the quota"),
            "quota",
        ),
    ],
)
async def test_connect_refusing_the_upload_becomes_a_note(error, words):
    store, connection = FakeStore(b"%PDF", "application/pdf"), FakeConnection()
    await attacher(store, FakeConnect(error), connection).attach(
        SESSION, part("document", "application/pdf", filename="a.pdf"), token="t"
    )
    [(text, _)] = connection.notes
    assert words in text


async def test_expired_media_becomes_a_note():
    store = FakeStore(b"", "image/jpeg", error=ConfigurationError("Media not found"))
    connection = FakeConnection()
    await attacher(store, FakeConnect(), connection).attach(
        SESSION, part("image", "image/jpeg"), token="t"
    )
    [(text, _)] = connection.notes
    assert "WhatsApp no longer has the file" in text


async def test_a_voice_note_is_converted_uploaded_and_then_transcribed_from_the_original():
    store = FakeStore(fixture("voice_en.ogg"), "audio/ogg")
    connect, connection, voice = FakeConnect(), FakeConnection(), FakeVoiceNotes()
    attached = await attacher(store, connect, connection, voice_notes=voice).attach(
        SESSION, part("audio", "audio/ogg", voice=True), token="t"
    )
    [upload] = connect.uploads
    assert (upload["name"], upload["content_type"]) == ("voice-note.wav", "audio/wav")
    assert upload["body"][:4] == b"RIFF"
    assert attached.converted is not None
    [started] = voice.started
    assert started["key"] == "inbound/m1/x"
    assert started["duration_s"] == pytest.approx(3.95, abs=0.1)
    assert started["token"] == "t"


async def test_an_undecodable_voice_note_is_a_note_and_not_transcribed():
    store = FakeStore(b"OggS but not really", "audio/ogg")
    connect, connection, voice = FakeConnect(), FakeConnection(), FakeVoiceNotes()
    await attacher(store, connect, connection, voice_notes=voice).attach(
        SESSION, part("audio", "audio/ogg", voice=True), token="t"
    )
    assert connect.uploads == []
    assert voice.started == []
    [(text, _)] = connection.notes
    assert "voice-note.ogg (audio/ogg" in text
