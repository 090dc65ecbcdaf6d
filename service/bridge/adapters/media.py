"""An agent's Connect attachment → the media part of a WhatsApp message.

The file is fetched with GetAttachment's short-lived URL and staged in the media bucket.
Types WhatsApp accepts as media are uploaded with PostWhatsAppMessageMedia and sent by
media id, as the WhatsApp type they belong to. Audio WhatsApp does not take (the agent's
.wav recordings: .wav is the one audio type Connect chat accepts by default) is converted
to Ogg/Opus mono and sent as audio, so the customer can play it in the chat. Anything else
(Connect allows .heic, .mov, .csv, …) is sent as a document: Meta's upload refuses those
types, so the document points at a presigned URL of the staged file, with the file's own
name. Presigning instead of handing Meta Connect's URL matters: Connect's expires within 5
minutes, and Meta fetches links when it pleases.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Final

import aiohttp
import structlog

from service.aws_errors import translated
from service.bridge.adapters.media_convert import ConversionError, ConversionLimits, to_ogg_opus
from service.errors import DependencyUnavailableError, WhatsAppSendError

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_socialmessaging import EndUserMessagingSocialClient

    from service.bridge.adapters.connect_chat import ConnectChat
    from service.bridge.events.connect import Attachment

log = structlog.get_logger(__name__)

MIB: Final = 1024 * 1024
_HTTP_OK: Final = 200
_CHUNK_BYTES: Final = 256 * 1024
_UNSAFE_NAME: Final = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class MediaKind:
    whatsapp_type: str
    limit_bytes: int
    by_link: bool = False
    to_opus: bool = False  # converted to Ogg/Opus and sent as audio when it can be


_DOCUMENT_LIMIT: Final = 100 * MIB
WHATSAPP_AUDIO_LIMIT: Final = 16 * MIB
_KINDS: Final[dict[str, MediaKind]] = {
    **dict.fromkeys(("image/jpeg", "image/png"), MediaKind("image", 5 * MIB)),
    **dict.fromkeys(
        ("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"),
        MediaKind("audio", WHATSAPP_AUDIO_LIMIT),
    ),
    **dict.fromkeys(("video/mp4", "video/3gpp"), MediaKind("video", 16 * MIB)),
    **dict.fromkeys(
        (
            "text/plain",
            "application/pdf",
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        MediaKind("document", _DOCUMENT_LIMIT),
    ),
}
_OTHER: Final = MediaKind("document", _DOCUMENT_LIMIT, by_link=True)
# Other audio (audio/wav, audio/x-wav, audio/webm, …): Ogg/Opus if it converts, else as
# any other file, so its download limit is the document's.
_OTHER_AUDIO: Final = MediaKind("document", _DOCUMENT_LIMIT, by_link=True, to_opus=True)


def media_kind(content_type: str | None) -> MediaKind:
    """How a file of this MIME type travels to WhatsApp."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    known = _KINDS.get(base)
    if known is not None:
        return known
    return _OTHER_AUDIO if base.startswith("audio/") else _OTHER


class MediaNotSendableError(Exception):
    """The file cannot go to WhatsApp; `reason` is plain words for the agent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _megabytes(size: int) -> str:
    return f"{size / MIB:.1f} MB"


class MediaForwarder:
    def __init__(
        self,
        *,
        connect: ConnectChat,
        social: EndUserMessagingSocialClient,
        s3: S3Client,
        bucket: str,
        http: aiohttp.ClientSession,
        key_prefix: str = "outbound/",
        link_expiry_s: int = 24 * 3600,
        download_timeout_s: float = 60.0,
        conversion_limits: ConversionLimits | None = None,
    ) -> None:
        self._connect = connect
        self._social = social
        self._s3 = s3
        self._bucket = bucket
        self._http = http
        self._prefix = key_prefix
        self._link_expiry_s = link_expiry_s
        self._timeout = aiohttp.ClientTimeout(total=download_timeout_s)
        self._limits = conversion_limits or ConversionLimits(max_output_bytes=WHATSAPP_AUDIO_LIMIT)

    async def message_fields(
        self, *, connection_token: str, attachment: Attachment, origination_id: str
    ) -> dict[str, Any]:
        """The type-specific part of the WhatsApp message carrying `attachment`.

        Raises `MediaNotSendableError` for a file WhatsApp will not take, and the bridge's
        retryable errors for outages.
        """
        kind = media_kind(attachment.content_type)
        name = attachment.name or "attachment"
        download = await self._connect.get_attachment(
            connection_token=connection_token, attachment_id=attachment.attachment_id
        )
        if download.size is not None and download.size > kind.limit_bytes:
            raise MediaNotSendableError(_too_large(name, download.size, kind))
        data = await self._download(download.url, kind)
        if len(data) > kind.limit_bytes:
            raise MediaNotSendableError(_too_large(name, len(data), kind))
        key = f"{self._prefix}{attachment.attachment_id}/{_UNSAFE_NAME.sub('_', name)}"
        if kind.to_opus:
            opus = await self._to_opus(data)
            if opus is not None:
                stem = PurePosixPath(_UNSAFE_NAME.sub("_", name)).stem.strip(".") or "audio"
                ogg_key = f"{self._prefix}{attachment.attachment_id}/{stem}.ogg"
                await self._put(ogg_key, opus, "audio/ogg")
                media_id = await self._upload(origination_id, ogg_key)
                log.info("whatsapp_media_uploaded", type="audio", size=len(opus), converted=True)
                return {"type": "audio", "audio": {"id": media_id}}
            # The recording goes as the document the agent attached, as before conversions
            # existed: the customer still gets the file the agent meant them to have, only
            # not playable in the chat, where a note instead would leave them without it.
        await self._put(key, data, attachment.content_type or "application/octet-stream")
        if kind.by_link:
            with translated("s3", "GeneratePresignedUrl"):
                link = await self._s3.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": self._bucket, "Key": key},
                    ExpiresIn=self._link_expiry_s,
                )
            log.info("whatsapp_media_linked", size=len(data))
            return {"type": "document", "document": {"link": link, "filename": name}}
        media_id = await self._upload(origination_id, key)
        part: dict[str, Any] = {"id": media_id}
        if kind.whatsapp_type == "document":
            part["filename"] = name
        log.info("whatsapp_media_uploaded", type=kind.whatsapp_type, size=len(data))
        return {"type": kind.whatsapp_type, kind.whatsapp_type: part}

    async def _to_opus(self, data: bytes) -> bytes | None:
        """`data` as Ogg/Opus mono, or None when it cannot be converted within the bounds."""
        with tempfile.TemporaryDirectory(prefix="bridge-outbound-") as workdir:
            source, target = Path(workdir, "in"), Path(workdir, "out.ogg")
            await asyncio.to_thread(source.write_bytes, data)
            try:
                converted = await to_ogg_opus(source, target, self._limits)
            except ConversionError as exc:
                log.info("whatsapp_media_not_converted", reason=exc.reason, size=len(data))
                return None
            log.info("whatsapp_media_converted", size_in=len(data), size_out=converted.size)
            return await asyncio.to_thread(target.read_bytes)

    async def _put(self, key: str, data: bytes, content_type: str) -> None:
        with translated("s3", "PutObject"):
            await self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=data, ContentType=content_type
            )

    async def _download(self, url: str, kind: MediaKind) -> bytes:
        try:
            async with self._http.get(url, timeout=self._timeout) as response:
                if response.status != _HTTP_OK:
                    raise DependencyUnavailableError(
                        f"attachment download answered {response.status}"
                    )
                if (response.content_length or 0) > kind.limit_bytes:
                    raise MediaNotSendableError(
                        _too_large("the file", response.content_length or 0, kind)
                    )
                # read(n) answers with what has arrived so far, often one network chunk
                # and not n bytes: read on to the end, or to one byte over the limit,
                # which is enough to know the file is too large.
                body = bytearray()
                async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
                    body += chunk
                    if len(body) > kind.limit_bytes:
                        break
                return bytes(body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DependencyUnavailableError("attachment download failed") from exc

    async def _upload(self, origination_id: str, key: str) -> str:
        try:
            with translated("socialmessaging", "PostWhatsAppMessageMedia"):
                response = await self._social.post_whatsapp_message_media(
                    originationPhoneNumberId=origination_id,
                    sourceS3File={"bucketName": self._bucket, "key": key},
                )
        except WhatsAppSendError as exc:
            # 131053 (media upload error) or a validation error: the file itself.
            raise MediaNotSendableError("WhatsApp refused the file.") from exc
        return response["mediaId"]


def _too_large(name: str, size: int, kind: MediaKind) -> str:
    return (
        f"{name} is {_megabytes(size)}; WhatsApp takes at most"
        f" {_megabytes(kind.limit_bytes)} for a file sent as {kind.whatsapp_type}."
    )
