"""Chat attachments: upload URL, PUT checks, completion, download URL, limits."""

from __future__ import annotations

import httpx
import pytest
from botocore.exceptions import ClientError


def _code(error: ClientError) -> tuple[str, int]:
    return (
        error.response["Error"]["Code"],
        int(error.response["ResponseMetadata"]["HTTPStatusCode"]),
    )


async def _upload(kit, token: str, data: bytes, name: str = "factura.pdf", **extra):
    participant = kit.clients.participant
    started = await participant.start_attachment_upload(
        ConnectionToken=token,
        ContentType="application/pdf",
        AttachmentSizeInBytes=len(data),
        AttachmentName=name,
        ClientToken=extra.pop("ClientToken", f"up-{name}"),
    )
    metadata = started["UploadMetadata"]
    async with httpx.AsyncClient() as http:
        put = await http.put(metadata["Url"], content=data, headers=metadata["HeadersToInclude"])
    return started, put


async def test_attachment_upload_complete_and_download_round_trip(kit):
    chat, token = await kit.connected_chat()
    data = b"%PDF-1.4 factura" * 10
    started, put = await _upload(kit, token, data)
    assert put.status_code == 200

    participant = kit.clients.participant
    await participant.complete_attachment_upload(
        ConnectionToken=token, AttachmentIds=[started["AttachmentId"]], ClientToken="done-1"
    )
    await participant.complete_attachment_upload(  # a retry with the same token: no new item
        ConnectionToken=token, AttachmentIds=[started["AttachmentId"]], ClientToken="done-1"
    )
    got = await participant.get_attachment(
        ConnectionToken=token, AttachmentId=started["AttachmentId"], UrlExpiryInSeconds=30
    )
    assert got["AttachmentSizeInBytes"] == len(data)
    async with httpx.AsyncClient() as http:
        download = await http.get(got["Url"])
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["content-type"] == "application/pdf"

    items = [
        item
        for item in (await kit.contact(chat["ContactId"]))["transcript"]
        if item["type"] == "ATTACHMENT"
    ]
    assert len(items) == 1
    assert items[0]["attachments"][0]["status"] == "APPROVED"
    assert items[0]["attachments"][0]["name"] == "factura.pdf"


async def test_download_url_expires(kit):
    _, token = await kit.connected_chat()
    started, _ = await _upload(kit, token, b"data")
    await kit.clients.participant.complete_attachment_upload(
        ConnectionToken=token, AttachmentIds=[started["AttachmentId"]], ClientToken="done"
    )
    got = await kit.clients.participant.get_attachment(
        ConnectionToken=token, AttachmentId=started["AttachmentId"], UrlExpiryInSeconds=5
    )
    await kit.advance_clock(6)
    async with httpx.AsyncClient() as http:
        expired = await http.get(got["Url"])
        forged = await http.get(got["Url"].rsplit("=", 1)[0] + "=forged")
    assert expired.status_code == 403
    assert b"expired" in expired.content
    assert forged.status_code == 403


async def test_upload_put_is_checked_against_the_signed_headers_and_size(kit):
    _, token = await kit.connected_chat()
    started = await kit.clients.participant.start_attachment_upload(
        ConnectionToken=token,
        ContentType="image/png",
        AttachmentSizeInBytes=4,
        AttachmentName="foto.png",
        ClientToken="up",
    )
    url = started["UploadMetadata"]["Url"]
    async with httpx.AsyncClient() as http:
        wrong_type = await http.put(url, content=b"abcd", headers={"Content-Type": "image/jpeg"})
        wrong_size = await http.put(url, content=b"abc", headers={"Content-Type": "image/png"})
    assert wrong_type.status_code == 403
    assert wrong_size.status_code == 400

    with pytest.raises(kit.clients.participant.exceptions.ValidationException):
        await kit.clients.participant.complete_attachment_upload(
            ConnectionToken=token, AttachmentIds=[started["AttachmentId"]], ClientToken="c"
        )


async def test_start_attachment_upload_is_idempotent(kit):
    _, token = await kit.connected_chat()
    params = {
        "ConnectionToken": token,
        "ContentType": "text/plain",
        "AttachmentSizeInBytes": 3,
        "AttachmentName": "a.txt",
        "ClientToken": "same",
    }
    first = await kit.clients.participant.start_attachment_upload(**params)
    again = await kit.clients.participant.start_attachment_upload(**params)
    assert again["AttachmentId"] == first["AttachmentId"]


@pytest.mark.parametrize(
    ("name", "size", "code"),
    [
        ("voice.ogg", 10, "ValidationException"),
        ("big.pdf", 20 * 1024 * 1024 + 1, "ValidationException"),
    ],
)
async def test_attachment_type_and_size_limits(kit, name, size, code):
    _, token = await kit.connected_chat()
    with pytest.raises(ClientError) as caught:
        await kit.clients.participant.start_attachment_upload(
            ConnectionToken=token,
            ContentType="application/octet-stream",
            AttachmentSizeInBytes=size,
            AttachmentName=name,
            ClientToken="x",
        )
    assert _code(caught.value) == (code, 400)


async def test_attachments_per_chat_quota_is_service_quota_exceeded(kit):
    await kit.sandbox.post("/sandbox/config", json={"max_attachments_per_chat": 2})
    _, token = await kit.connected_chat()
    await _upload(kit, token, b"1", name="a.pdf")
    await _upload(kit, token, b"2", name="b.pdf")
    with pytest.raises(ClientError) as caught:
        await _upload(kit, token, b"3", name="c.pdf")
    assert _code(caught.value) == ("ServiceQuotaExceededException", 402)


async def test_get_attachment_of_another_chat_is_rejected(kit):
    _, token = await kit.connected_chat()
    started, _ = await _upload(kit, token, b"mine")
    await kit.clients.participant.complete_attachment_upload(
        ConnectionToken=token, AttachmentIds=[started["AttachmentId"]], ClientToken="c"
    )
    _, other_token = await kit.connected_chat()
    with pytest.raises(kit.clients.participant.exceptions.ValidationException):
        await kit.clients.participant.get_attachment(
            ConnectionToken=other_token, AttachmentId=started["AttachmentId"]
        )


async def test_completing_twice_with_another_token_is_a_conflict(kit):
    _, token = await kit.connected_chat()
    started, _ = await _upload(kit, token, b"x")
    participant = kit.clients.participant
    await participant.complete_attachment_upload(
        ConnectionToken=token, AttachmentIds=[started["AttachmentId"]], ClientToken="c1"
    )
    with pytest.raises(ClientError) as caught:
        await participant.complete_attachment_upload(
            ConnectionToken=token, AttachmentIds=[started["AttachmentId"]], ClientToken="c2"
        )
    assert _code(caught.value) == ("ConflictException", 409)


async def _start_upload(kit, token: str, name: str, size: int, content_type: str, *, client="s"):
    return await kit.clients.participant.start_attachment_upload(
        ConnectionToken=token,
        ContentType=content_type,
        AttachmentSizeInBytes=size,
        AttachmentName=name,
        ClientToken=client,
    )


async def test_default_extensions_are_connects_and_extra_ones_are_configurable(kit):
    _, token = await kit.connected_chat()
    for name in ("nota.OGG", "sticker.webp", "audio.mp3"):
        with pytest.raises(ClientError) as caught:
            await _start_upload(kit, token, name, 10, "audio/ogg", client=name)
        assert _code(caught.value) == ("ValidationException", 400)
    for name in ("a.heic", "b.JFIF", "c.mov", "d.wav", "e.rtf", "f.xlsx", "g.csv"):
        await _start_upload(kit, token, name, 10, "application/octet-stream", client=name)

    configured = await kit.sandbox.post(
        "/sandbox/config", json={"connect_extra_extensions": ["OGG", ".webp", " mp3 "]}
    )
    assert configured.json()["connect_extra_extensions"] == [".ogg", ".webp", ".mp3"]
    for name in ("nota.OGG", "sticker.webp", "audio.mp3"):
        await _start_upload(kit, token, name, 10, "audio/ogg", client=f"again-{name}")


async def test_attachment_size_limit_is_configurable_up_to_100_mb(kit):
    _, token = await kit.connected_chat()
    with pytest.raises(ClientError):
        await _start_upload(kit, token, "big.mp4", 20 * 1024 * 1024 + 1, "video/mp4")
    assert (
        await kit.sandbox.post("/sandbox/config", json={"max_attachment_bytes": 104_857_600})
    ).status_code == 200
    await _start_upload(kit, token, "big.mp4", 104_857_600, "video/mp4", client="ok")
    with pytest.raises(ClientError):
        await _start_upload(kit, token, "huge.mp4", 104_857_601, "video/mp4", client="no")
    too_big = await kit.sandbox.post("/sandbox/config", json={"max_attachment_bytes": 104_857_601})
    assert too_big.status_code == 422


async def test_chunked_streamed_upload_of_a_large_file_round_trips(kit):
    chat, token = await kit.connected_chat()
    await kit.sandbox.post("/sandbox/config", json={"max_attachment_bytes": 30 * 1024 * 1024})
    size = 24 * 1024 * 1024  # over Connect's default 20 MB
    block = bytes(range(256)) * 4096  # 1 MiB

    async def stream():
        for _ in range(size // len(block)):
            yield block

    started = await _start_upload(kit, token, "video.mp4", size, "video/mp4")
    metadata = started["UploadMetadata"]
    async with httpx.AsyncClient(timeout=60) as http:
        put = await http.put(
            metadata["Url"], content=stream(), headers=metadata["HeadersToInclude"]
        )
    assert put.status_code == 200, put.text
    assert "content-length" not in put.request.headers  # sent chunked
    await kit.clients.participant.complete_attachment_upload(
        ConnectionToken=token, AttachmentIds=[started["AttachmentId"]], ClientToken="done"
    )

    listed = (await kit.sandbox.get(f"/sandbox/contacts/{chat['ContactId']}/attachments")).json()
    [attachment] = listed["attachments"]
    assert attachment["name"] == "video.mp4"
    assert attachment["contentType"] == "video/mp4"
    assert attachment["size"] == size
    assert attachment["status"] == "APPROVED"
    content = await kit.sandbox.get(attachment["downloadPath"])
    assert content.headers["content-type"] == "video/mp4"
    assert "filename*=UTF-8''video.mp4" in content.headers["content-disposition"]
    assert len(content.content) == size
    assert content.content[: len(block)] == block

    got = await kit.clients.participant.get_attachment(
        ConnectionToken=token, AttachmentId=started["AttachmentId"]
    )
    async with httpx.AsyncClient(timeout=60) as http:
        served = await http.get(got["Url"])
    assert served.content == content.content


async def test_a_put_longer_than_declared_is_refused_while_streaming(kit):
    _, token = await kit.connected_chat()
    started = await _start_upload(kit, token, "x.pdf", 1000, "application/pdf")
    metadata = started["UploadMetadata"]

    async def stream():
        for _ in range(3):
            yield b"x" * 600

    async with httpx.AsyncClient() as http:
        longer = await http.put(
            metadata["Url"], content=stream(), headers=metadata["HeadersToInclude"]
        )
        declared_wrong = await http.put(
            metadata["Url"], content=b"x" * 999, headers=metadata["HeadersToInclude"]
        )
    assert longer.status_code == 400
    assert b"BadDigest" in longer.content
    assert declared_wrong.status_code == 400


async def test_sandbox_attachments_of_an_unknown_contact_or_attachment(kit):
    chat, _ = await kit.connected_chat()
    assert (await kit.sandbox.get("/sandbox/contacts/nope/attachments")).status_code == 404
    missing = await kit.sandbox.get(f"/sandbox/contacts/{chat['ContactId']}/attachments/nope")
    assert missing.status_code == 404
