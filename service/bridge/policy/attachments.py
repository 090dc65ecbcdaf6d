"""Which inbound media Connect takes as a chat attachment, under what name and type.

Connect chat accepts a fixed list of extensions plus the ones an operator adds with
`UpdateAttachedFilesConfiguration` (limits.md §1); it judges a file by its name. WhatsApp
sends types outside that list (WebP stickers, Ogg/Opus voice notes, mp3, amr, 3gp), so a
plan says whether a file goes as it is, is converted first (WebP → PNG, audio → WAV, 3gp
video → mp4), or cannot go, in words the agent reads. Sizes are checked here too, against
the attachment limit the instance is configured with; the per-chat count is Connect's to
enforce (its refusal becomes a note), since only Connect knows what the agent attached to
the chat.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Final

MIB: Final = 1024 * 1024
DEFAULT_MAX_ATTACHMENT_BYTES: Final = 20 * MIB

# Connect's default chat attachment extensions (limits.md §1, feature-limits page).
CONNECT_EXTENSIONS: Final = frozenset(
    {
        ".csv", ".doc", ".docx", ".heic", ".jfif", ".jpeg", ".jpg", ".mov", ".mp4",
        ".pdf", ".png", ".ppt", ".pptx", ".rtf", ".txt", ".wav", ".xls", ".xlsx",
    }
)  # fmt: skip

# The extension a WhatsApp MIME type is saved under (EUM's supported media types, §2).
_EXTENSIONS: Final[dict[str, str]] = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/3gpp": ".3gp",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/aac": ".aac",
    "audio/amr": ".amr",
    "text/plain": ".txt",
    "application/pdf": ".pdf",
    "application/msword": ".doc",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.ms-powerpoint": ".ppt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
}
# Connect's upload URL is signed with the declared Content-Type; an extension it knows
# gets the usual type, so the agent's browser opens it rightly.
_TYPES_BY_EXTENSION: Final = {ext: mime for mime, ext in _EXTENSIONS.items()} | {
    ".jpeg": "image/jpeg",
    ".wav": "audio/wav",
}
_UNSAFE_NAME: Final = re.compile(r"[^\w.() -]+")
_MAX_NAME_CHARS: Final = 120


class Conversion(StrEnum):
    NONE = "none"
    PNG = "png"  # WebP sticker → PNG (animated: first frame)
    WAV = "wav"  # any audio → WAV, 16 kHz mono
    MP4 = "mp4"  # 3gp video → mp4, H.264 + AAC (copied when already so, else re-encoded)


@dataclass(frozen=True, slots=True)
class AttachmentRules:
    max_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES
    extra_extensions: frozenset[str] = field(default_factory=frozenset)

    def allows(self, extension: str) -> bool:
        return extension in CONNECT_EXTENSIONS or extension in self.extra_extensions


@dataclass(frozen=True, slots=True)
class Attach:
    """Upload as `name` with `content_type`, after `conversion`."""

    name: str
    content_type: str
    conversion: Conversion = Conversion.NONE


@dataclass(frozen=True, slots=True)
class Refuse:
    reason: str


def normalize_extensions(raw: str) -> frozenset[str]:
    """`".ogg, webp,.MP3"` → `{".ogg", ".webp", ".mp3"}`."""
    return frozenset(
        "." + item.strip().lower().lstrip(".") for item in raw.split(",") if item.strip(" .")
    )


def extension_of(mime_type: str | None) -> str:
    base = (mime_type or "").split(";", 1)[0].strip().lower()
    return _EXTENSIONS.get(base, "")


def file_name(*, kind: str, mime_type: str | None, filename: str | None, voice: bool) -> str:
    """The name the agent sees: the customer's own for documents, else a plain word."""
    if filename:
        cleaned = _UNSAFE_NAME.sub("_", PurePosixPath(filename.replace("\\", "/")).name).strip()
        if cleaned.strip("."):
            stem, suffix = PurePosixPath(cleaned).stem, PurePosixPath(cleaned).suffix
            if not suffix:
                suffix = extension_of(mime_type)
            return stem[: _MAX_NAME_CHARS - len(suffix)] + suffix.lower()
    stem = "voice-note" if voice else kind
    return stem + (extension_of(mime_type) or ".bin")


def plan(
    *, kind: str, mime_type: str | None, filename: str | None, voice: bool, rules: AttachmentRules
) -> Attach | Refuse:
    """How a customer's file reaches the chat, judged by its name and type."""
    name = file_name(kind=kind, mime_type=mime_type, filename=filename, voice=voice)
    path = PurePosixPath(name)
    extension = path.suffix.lower()
    base_type = (mime_type or "").split(";", 1)[0].strip().lower()
    if rules.allows(extension):
        content_type = _TYPES_BY_EXTENSION.get(extension) or base_type
        return Attach(name=name, content_type=content_type or "application/octet-stream")
    if base_type == "image/webp":
        return Attach(name=path.stem + ".png", content_type="image/png", conversion=Conversion.PNG)
    if base_type.startswith("audio/"):
        return Attach(name=path.stem + ".wav", content_type="audio/wav", conversion=Conversion.WAV)
    if base_type == "video/3gpp":
        return Attach(name=path.stem + ".mp4", content_type="video/mp4", conversion=Conversion.MP4)
    shown = extension or base_type or "this type"
    return Refuse(f"Connect chat does not accept {shown} files")


def too_large(size: int, rules: AttachmentRules) -> Refuse | None:
    if size <= rules.max_bytes:
        return None
    return Refuse(f"it is larger than the {megabytes(rules.max_bytes)} Connect accepts")


def megabytes(size: int) -> str:
    return f"{size / MIB:.1f} MB"
