"""A customer's file becomes a Connect chat attachment, or a note saying why it cannot.

Steps: plan by name and type (policy.attachments) → `GetWhatsAppMessageMedia` into the
media bucket → convert when Connect does not take the type → Start/upload/Complete, the
body streamed from S3 (or from the converted temporary file) in chunks. Every Connect call
takes `token`, which delivery derives from the ledger's record of this part, so a replay
resumes the same attachment. A file that cannot go (type, size, Connect's refusal, the
35-per-chat quota, an unreadable file) costs the agent one note naming the file, its type
and size and why; it never fails the burst, so nothing after it is held back.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import structlog

from service.bridge.adapters.connect_chat import ConnectChat
from service.bridge.adapters.connection import ChatConnection
from service.bridge.adapters.inbound_media import CHUNK_BYTES, InboundMediaStore, StagedMedia
from service.bridge.adapters.ledger import AttachmentPart
from service.bridge.adapters.media_convert import (
    ConversionError,
    ConversionLimits,
    Converted,
    to_mp4,
    to_png,
    to_wav,
)
from service.bridge.adapters.sessions import Session
from service.bridge.flows.voice_notes import VoiceNotes
from service.bridge.policy.attachments import (
    Attach,
    AttachmentRules,
    Conversion,
    Refuse,
    file_name,
    megabytes,
    plan,
    too_large,
)
from service.errors import AttachmentRejectedError, ConfigurationError, InvalidRequestError

log = structlog.get_logger(__name__)

# WhatsApp's largest inbound file (a document) is 100 MB; nothing larger is converted.
_MAX_CONVERSION_INPUT: Final = 100 * 1024 * 1024

_CONVERTERS: Final[
    dict[Conversion, Callable[[Path, Path, ConversionLimits], Awaitable[Converted]]]
] = {
    Conversion.PNG: to_png,
    Conversion.WAV: to_wav,
    Conversion.MP4: to_mp4,
}

_ChunkSource = Callable[[], AsyncIterator[bytes]]


@dataclass(frozen=True, slots=True)
class Attached:
    attachment_id: str | None  # None: the agent got a note instead
    converted: Converted | None = None
    staged_key: str | None = None  # the original file in the media bucket, once attached


class MediaAttacher:
    def __init__(
        self,
        *,
        connect: ConnectChat,
        connection: ChatConnection,
        store: InboundMediaStore,
        rules: AttachmentRules,
        conversion_limits: ConversionLimits | None = None,
        voice_notes: VoiceNotes | None = None,
    ) -> None:
        self._connect = connect
        self._connection = connection
        self._store = store
        self._rules = rules
        self._limits = conversion_limits or ConversionLimits(max_output_bytes=rules.max_bytes)
        self._voice_notes = voice_notes

    async def attach(self, session: Session, part: AttachmentPart, *, token: str) -> Attached:
        attached = await self._attach(session, part, token=token)
        if attached.staged_key is not None and part.voice and self._voice_notes is not None:
            # After the audio is with the agent, and without waiting for it.
            self._voice_notes.transcribe_later(
                session,
                key=attached.staged_key,
                duration_s=None if attached.converted is None else attached.converted.duration_s,
                token=token,
            )
        return attached

    async def _attach(self, session: Session, part: AttachmentPart, *, token: str) -> Attached:
        """Upload `part` into the session's chat, or tell the agent why not.

        Raises the bridge's retryable errors for outages and `ParticipantAccessDeniedError`
        when the chat is gone (the caller starts a new one).
        """
        decision = plan(
            kind=part.kind,
            mime_type=part.mime_type,
            filename=part.filename,
            voice=part.voice,
            rules=self._rules,
        )
        if isinstance(decision, Refuse):
            await self._note(session, part, None, decision.reason, token=token)
            return Attached(None)
        try:
            staged = await self._store.stage(
                origination_id=session.origination_id, media_id=part.media_id
            )
        except (ConfigurationError, InvalidRequestError):
            # Media ids expire (WhatsApp keeps media 30 days) or were never valid.
            reason = "WhatsApp no longer has the file"
            await self._note(session, part, None, reason, token=token)
            return Attached(None)
        try:
            if decision.conversion is Conversion.NONE:
                refused = too_large(staged.size, self._rules)
                if refused is not None:
                    await self._note(session, part, staged.size, refused.reason, token=token)
                    return Attached(None)
                attachment_id = await self._upload(
                    session, decision, staged.size, lambda: self._store.chunks(staged.key), token
                )
                return Attached(attachment_id, staged_key=staged.key)
            return await self._convert_and_upload(session, part, decision, staged, token)
        except AttachmentRejectedError as exc:
            reason = f"Connect refused it ({exc})"
            await self._note(session, part, staged.size, reason, token=token)
            return Attached(None)

    async def _convert_and_upload(
        self,
        session: Session,
        part: AttachmentPart,
        decision: Attach,
        staged: StagedMedia,
        token: str,
    ) -> Attached:
        if staged.size > _MAX_CONVERSION_INPUT:
            reason = "it is too large to convert"
            await self._note(session, part, staged.size, reason, token=token)
            return Attached(None)
        with tempfile.TemporaryDirectory(prefix="bridge-media-") as workdir:
            source, target = Path(workdir, "in"), Path(workdir, "out")
            await self._store.download(staged.key, source, limit_bytes=_MAX_CONVERSION_INPUT)
            try:
                convert = _CONVERTERS[decision.conversion]
                converted = await convert(source, target, self._limits)
            except ConversionError as exc:
                log.info("inbound_media_not_converted", conversion=decision.conversion.value)
                await self._note(session, part, staged.size, exc.reason, token=token)
                return Attached(None)
            log.info(
                "inbound_media_converted",
                conversion=decision.conversion.value,
                size_in=staged.size,
                size_out=converted.size,
            )
            attachment_id = await self._upload(
                session, decision, converted.size, lambda: _file_chunks(target), token
            )
        return Attached(attachment_id, converted, staged_key=staged.key)

    async def _upload(
        self,
        session: Session,
        decision: Attach,
        size: int,
        chunks: _ChunkSource,
        token: str,
    ) -> str:
        async def upload(connection_token: str) -> str:
            return await self._connect.upload_attachment(
                connection_token=connection_token,
                name=decision.name,
                content_type=decision.content_type,
                size=size,
                chunks=chunks,
                client_token=token,
            )

        return await self._connection.call(session, upload)

    async def _note(
        self, session: Session, part: AttachmentPart, size: int | None, reason: str, *, token: str
    ) -> None:
        name = file_name(
            kind=part.kind, mime_type=part.mime_type, filename=part.filename, voice=part.voice
        )
        described = part.mime_type or "unknown type"
        if size is not None:
            described += f", {megabytes(size)}"
        log.info("inbound_media_noted", kind=part.kind, size=size)
        await self._connection.note(
            session,
            f"[The customer's file {name} ({described}) could not be attached: {reason}.]",
            client_token=f"{token}-note",
        )


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        while chunk := await asyncio.to_thread(source.read, CHUNK_BYTES):
            yield chunk
