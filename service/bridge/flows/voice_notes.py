"""Voice notes get a transcript for the agent, after the audio and without holding anyone.

The audio is attached at once; the transcription runs as a background task of this
object, so the customer's next burst is delivered while Transcribe works. When it ends the
agent reads `🔊 Voice note, 0:14, en-US: "…"`; a failure, a timeout or silence gives a
note with the duration instead. The message's token is derived from the delivery part,
so a note transcribed twice (a replay after a crash) reaches the agent once.

Not durable: a task killed with its worker loses the transcript (the audio is already
with the agent, and a replayed delivery skips parts it recorded as sent).
"""

from __future__ import annotations

import asyncio
from typing import Final

import structlog

from service.bridge.adapters.connection import ChatConnection
from service.bridge.adapters.sessions import Session
from service.bridge.adapters.transcribe import TranscriptionFailedError, VoiceTranscriber
from service.errors import BridgeError

log = structlog.get_logger(__name__)

_MAX_TRANSCRIPT_CHARS: Final = 900


def voice_line(duration_s: float | None, language: str | None, text: str | None) -> str:
    head = "🔊 Voice note"
    if duration_s is not None:
        seconds = round(duration_s)
        head += f", {seconds // 60}:{seconds % 60:02d}"
    if text is None:
        return head
    if language:
        head += f", {language}"
    if len(text) > _MAX_TRANSCRIPT_CHARS:
        text = text[: _MAX_TRANSCRIPT_CHARS - 1] + "…"
    return f'{head}: "{text}"'


class VoiceNotes:
    def __init__(
        self,
        *,
        transcriber: VoiceTranscriber,
        connection: ChatConnection,
        timeout_s: float = 300.0,
    ) -> None:
        self._transcriber = transcriber
        self._connection = connection
        self._timeout_s = timeout_s
        self._tasks: set[asyncio.Task[None]] = set()

    def transcribe_later(
        self, session: Session, *, key: str, duration_s: float | None, token: str
    ) -> None:
        task = asyncio.create_task(self._run(session, key, duration_s, token))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout_s: float) -> None:
        """Let running transcriptions finish for up to `timeout_s`, then cancel them."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _run(self, session: Session, key: str, duration_s: float | None, token: str) -> None:
        try:
            transcript = await self._transcriber.transcribe(
                key=key, token=token, timeout_s=self._timeout_s
            )
        except TranscriptionFailedError as exc:
            text = f"{voice_line(duration_s, None, None)}: no transcript ({exc.reason})."
        except BridgeError as exc:
            log.warning("transcription_error", error=type(exc).__name__)
            text = f"{voice_line(duration_s, None, None)}: no transcript (Transcribe unavailable)."
        else:
            duration = duration_s if duration_s is not None else transcript.end_s
            if transcript.text:
                text = voice_line(duration, transcript.language, transcript.text)
            else:
                text = f"{voice_line(duration, None, None)}: no speech recognised."
            log.info("voice_note_transcribed", words=len(transcript.text.split()))
        try:
            await self._connection.note(session, text, client_token=f"{token}-transcript")
        except BridgeError as exc:
            log.warning("transcript_not_sent", error=type(exc).__name__)
