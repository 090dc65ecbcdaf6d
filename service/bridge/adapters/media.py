"""An agent's Connect attachment → the media part of a WhatsApp message.

The file is fetched with GetAttachment's short-lived URL and staged in the media bucket.
Types WhatsApp accepts as media are uploaded with PostWhatsAppMessageMedia and sent by
media id, as the WhatsApp type they belong to. Anything else (Connect allows .wav, .heic,
.mov, .csv, …) is sent as a document: Meta's upload refuses those types, so the document
points at a presigned URL of the staged file, with the file's own name. Presigning
instead of handing Meta Connect's URL matters: Connect's expires within 5 minutes, and
Meta fetches links when it pleases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import aiohttp
import structlog

from service.aws_errors import translated
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


_DOCUMENT_LIMIT: Final = 100 * MIB
_KINDS: Final[dict[str, MediaKind]] = {
    **dict.fromkeys(("image/jpeg", "image/png"), MediaKind("image", 5 * MIB)),
    **dict.fromkeys(
        ("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"),
        MediaKind("audio", 16 * MIB),
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


def media_kind(content_type: str | None) -> MediaKind:
    """How a file of this MIME type travels to WhatsApp."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return _KINDS.get(base, _OTHER)


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
    ) -> None:
        self._connect = connect
        self._social = social
        self._s3 = s3
        self._bucket = bucket
        self._http = http
        self._prefix = key_prefix
        self._link_expiry_s = link_expiry_s
        self._timeout = aiohttp.ClientTimeout(total=download_timeout_s)

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
        content_type = attachment.content_type or "application/octet-stream"
        with translated("s3", "PutObject"):
            await self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=data, ContentType=content_type
            )
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
