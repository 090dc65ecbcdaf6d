"""WhatsApp media known to the simulator: customers' uploads and the business's posts."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import secrets
from dataclasses import dataclass
from typing import Any, Final, Literal

MEBIBYTE: Final = 1024 * 1024

# Extension EUM gives a downloaded file, from its MIME type (parameters ignored).
_EXTENSIONS: Final = {
    "image/jpeg": "jpeg",
    "image/png": "png",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "video/3gpp": "3gp",
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/aac": "aac",
    "audio/amr": "amr",
    "audio/mp4": "m4a",
    "text/plain": "txt",
    "application/pdf": "pdf",
    "application/msword": "doc",
    "application/vnd.ms-excel": "xls",
    "application/vnd.ms-powerpoint": "ppt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
}

# What a business may upload with PostWhatsAppMessageMedia, and its size limit.
SENDABLE_LIMITS: Final = {
    **dict.fromkeys(("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"), 16),
    **dict.fromkeys(("video/mp4", "video/3gpp"), 16),
    **dict.fromkeys(("image/jpeg", "image/png"), 5),
    "image/webp": 0.5,
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
        100,
    ),
}


def base_mime(mime_type: str) -> str:
    return mime_type.split(";", 1)[0].strip().lower()


def extension_for(mime_type: str) -> str:
    base = base_mime(mime_type)
    known = _EXTENSIONS.get(base)
    if known is not None:
        return known
    guessed = mimetypes.guess_extension(base)
    return guessed.lstrip(".") if guessed else "bin"


# What WhatsApp delivers of any file sent as a document (EUM's supported media types).
DOCUMENT_LIMIT_BYTES: Final = 100 * MEBIBYTE


def sendable_limit_bytes(mime_type: str) -> int | None:
    limit_mib = SENDABLE_LIMITS.get(base_mime(mime_type))
    return None if limit_mib is None else int(limit_mib * MEBIBYTE)


_STATIC_STICKER_BYTES: Final = 100 * 1024


def inbound_limit_bytes(mime_type: str, data: bytes) -> int | None:
    """The most WhatsApp delivers of this type (EUM's supported media types), if limited.

    The same table as for sends, except that a static sticker (a WebP without an ANIM
    chunk) is limited to 100 KB, an animated one to 500 KB.
    """
    if base_mime(mime_type) == "image/webp" and b"ANIM" not in data[:4096]:
        return _STATIC_STICKER_BYTES
    return sendable_limit_bytes(mime_type)


def sha256_b64(data: bytes) -> str:
    """The digest as WhatsApp gives it in a media message (base64, not hex)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@dataclass(frozen=True, slots=True)
class Speech:
    """What a test says is spoken in a media file: Transcribe returns it instead of
    recognising (deterministic mode). `language` None: whatever the job asks for."""

    transcript: str
    language: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"transcript": self.transcript, "language": self.language}


@dataclass(frozen=True, slots=True)
class Media:
    media_id: str
    data: bytes
    mime_type: str
    sha256: str
    filename: str | None
    origin: Literal["customer", "business"]
    speech: Speech | None = None

    def describe(self) -> dict[str, Any]:
        described = {
            "mediaId": self.media_id,
            "mimeType": self.mime_type,
            "sha256": self.sha256,
            "fileSize": len(self.data),
            "filename": self.filename,
            "origin": self.origin,
        }
        if self.speech is not None:
            described["speech"] = self.speech.describe()
        return described


class MediaStore:
    def __init__(self) -> None:
        self._media: dict[str, Media] = {}

    def add(
        self,
        data: bytes,
        mime_type: str,
        *,
        filename: str | None,
        origin: Literal["customer", "business"],
        speech: Speech | None = None,
    ) -> Media:
        # Meta media ids are long decimal numbers (and EUM's model only allows [A-Za-z0-9]).
        media_id = str(10**15 + secrets.randbelow(9 * 10**15))
        media = Media(media_id, data, mime_type, sha256_b64(data), filename, origin, speech)
        self._media[media_id] = media
        return media

    def get(self, media_id: str) -> Media | None:
        return self._media.get(media_id)

    def speech_in(self, data: bytes) -> Speech | None:
        """The expected speech of an uploaded file with exactly these bytes, if one was given.

        By content, not id: the bridge copies the media to its own bucket first.
        """
        digest = sha256_b64(data)
        return next(
            (m.speech for m in self._media.values() if m.sha256 == digest and m.speech),
            None,
        )

    def delete(self, media_id: str) -> bool:
        return self._media.pop(media_id, None) is not None

    def all(self) -> list[Media]:
        return list(self._media.values())

    def clear(self) -> None:
        self._media.clear()
