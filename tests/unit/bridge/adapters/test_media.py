"""MediaForwarder: an agent's attachment → the WhatsApp message's media part.

Against fakes of Connect, S3 and EUM Social, and a real local HTTP server for the download
(aiohttp's reads are what a fake would get wrong): which WhatsApp type each file travels
as, and what is uploaded. The agent's .wav recording goes as Ogg/Opus audio; when it
cannot be converted it still goes, as the document it was.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import aiohttp
import av
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from service.bridge.adapters.connect_chat import AttachmentDownload
from service.bridge.adapters.media import MediaForwarder, media_kind
from service.bridge.events.connect import Attachment
from tests.support.media import fixture, make_wav


class FakeConnect:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    async def get_attachment(self, *, connection_token: str, attachment_id: str) -> Any:
        del connection_token
        return AttachmentDownload(url=f"{self.base_url}/{attachment_id}", size=None)


@pytest.fixture
async def files() -> AsyncIterator[tuple[dict[str, bytes], str]]:
    """Connect's attachment storage: the file served per attachment id, and its base URL."""
    served: dict[str, bytes] = {}

    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=served[request.match_info["attachment_id"]])

    app = web.Application()
    app.router.add_get("/{attachment_id}", serve)
    async with TestServer(app) as server:
        yield served, str(server.make_url("")).rstrip("/")


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}

    async def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> None:  # noqa: N803  boto3's names
        del Bucket
        self.objects[Key] = (Body, ContentType)

    async def generate_presigned_url(self, method: str, **kwargs: Any) -> str:
        del method
        return f"https://media.example/{kwargs['Params']['Key']}?signed"


class FakeSocial:
    def __init__(self) -> None:
        self.uploaded: list[str] = []

    async def post_whatsapp_message_media(self, **kwargs: Any) -> dict[str, str]:
        self.uploaded.append(kwargs["sourceS3File"]["key"])
        return {"mediaId": f"m{len(self.uploaded)}"}


async def _send(
    files: tuple[dict[str, bytes], str], data: bytes, name: str, content_type: str
) -> tuple[dict[str, Any], FakeS3, FakeSocial]:
    served, base_url = files
    served["a1"] = data
    s3, social = FakeS3(), FakeSocial()
    async with aiohttp.ClientSession() as http:
        forwarder = MediaForwarder(
            connect=cast("Any", FakeConnect(base_url)),
            social=cast("Any", social),
            s3=cast("Any", s3),
            bucket="media",
            http=http,
        )
        fields = await forwarder.message_fields(
            connection_token="ct",
            attachment=Attachment(AttachmentId="a1", AttachmentName=name, ContentType=content_type),
            origination_id="phone-number-id-1",
        )
    return fields, s3, social


async def test_a_file_larger_than_one_network_chunk_arrives_whole(files):
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 4096  # 1 MB: many reads
    fields, s3, social = await _send(files, pdf, "contract.pdf", "application/pdf")
    assert fields == {"type": "document", "document": {"id": "m1", "filename": "contract.pdf"}}
    assert s3.objects["outbound/a1/contract.pdf"] == (pdf, "application/pdf")
    assert social.uploaded == ["outbound/a1/contract.pdf"]


async def test_an_agents_wav_goes_as_ogg_opus_audio(files, tmp_path: Path):
    wav = make_wav(tmp_path / "r.wav", seconds=2.0).read_bytes()
    fields, s3, social = await _send(files, wav, "my recording.wav", "audio/x-wav")
    assert fields == {"type": "audio", "audio": {"id": "m1"}}
    assert social.uploaded == ["outbound/a1/my_recording.ogg"]
    body, content_type = s3.objects["outbound/a1/my_recording.ogg"]
    assert content_type == "audio/ogg"
    with av.open(io.BytesIO(body)) as media:
        [stream] = media.streams.audio
        assert (media.format.name, stream.codec_context.name) == ("ogg", "opus")
        assert stream.codec_context.channels == 1
    assert len(body) < len(wav) / 10


async def test_a_wav_that_cannot_be_converted_still_goes_as_the_linked_document(files):
    fields, s3, social = await _send(files, b"RIFF not really a wav", "voice.wav", "audio/wav")
    assert fields == {
        "type": "document",
        "document": {
            "link": "https://media.example/outbound/a1/voice.wav?signed",
            "filename": "voice.wav",
        },
    }
    assert s3.objects == {"outbound/a1/voice.wav": (b"RIFF not really a wav", "audio/wav")}
    assert social.uploaded == []


async def test_audio_whatsapp_takes_goes_unconverted(files):
    fields, s3, _ = await _send(files, fixture("voice_en.mp3"), "song.mp3", "audio/mpeg")
    assert fields == {"type": "audio", "audio": {"id": "m1"}}
    assert s3.objects["outbound/a1/song.mp3"] == (fixture("voice_en.mp3"), "audio/mpeg")


def test_only_audio_whatsapp_refuses_is_converted():
    for converted in ("audio/wav", "audio/x-wav", "audio/webm", "audio/flac"):
        assert media_kind(converted).to_opus, converted
    for kept in ("audio/ogg", "audio/mpeg", "image/heic", "application/pdf", None):
        assert not media_kind(kept).to_opus, kept
