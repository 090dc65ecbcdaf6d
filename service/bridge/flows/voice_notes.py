"""Voice notes get a transcript for the agent, after the audio and without holding anyone.

The audio is attached at once; the transcription runs as a background task of this
object, so the customer's next burst is delivered while Transcribe works. When it ends the
agent reads `🔊 Voice note, 0:14, en-US: "…"`; a failure, a timeout or silence gives a
note with the duration instead. The message's token is derived from the delivery part,
so a note transcribed twice (a replay after a crash) reaches the agent once.

With `echo` (BRIDGE_TRANSCRIPT_ECHO, off by default) the customer also gets the words the
agent read, as a WhatsApp text: sent once (`echo`'s own claim, keyed by the same token).

Not durable: a task killed with its worker loses the transcript (the audio is already
with the agent, and a replayed delivery skips parts it recorded as sent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

import structlog

from service.bridge.adapters.claims import ClaimState
from service.bridge.adapters.connection import ChatConnection
from service.bridge.adapters.sessions import Session
from service.bridge.adapters.transcribe import TranscriptionFailedError, VoiceTranscriber
from service.bridge.adapters.whatsapp import Recipient
from service.bridge.flows.ports import PacerPort, SendClaimsPort, WhatsAppSender
from service.clock import SYSTEM_CLOCK, Clock
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
        echo: Callable[[Session, str, str], Awaitable[None]] | None = None,
    ) -> None:
        self._transcriber = transcriber
        self._connection = connection
        self._timeout_s = timeout_s
        # (session, transcript text, idempotency key) → the text sent to the customer.
        self._echo = echo
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
            if transcript.text and self._echo is not None:
                try:
                    await self._echo(session, transcript.text, f"{token}-echo")
                except Exception as exc:  # noqa: BLE001  the agent's transcript matters more
                    log.warning("transcript_echo_failed", error=type(exc).__name__)
        try:
            await self._connection.note(session, text, client_token=f"{token}-transcript")
        except BridgeError as exc:
            log.warning("transcript_not_sent", error=type(exc).__name__)


_ECHO_ATTEMPTS: Final = 3


class TranscriptEcho:
    """The transcript back to the customer (BRIDGE_TRANSCRIPT_ECHO): once, paced.

    They have just written, so their 24-hour window is open. Claimed under the note's own
    key, so a transcription replayed after a crash echoes nothing twice; a send that cannot
    be paced in a few tries is given up (the agent's transcript is what matters).
    """

    def __init__(
        self,
        *,
        claims: SendClaimsPort,
        pacer: PacerPort,
        whatsapp: WhatsAppSender,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._claims = claims
        self._pacer = pacer
        self._whatsapp = whatsapp
        self._clock = clock

    async def __call__(self, session: Session, text: str, key: str) -> None:
        claim = await self._claims.claim(key)
        if claim.state is not ClaimState.CLAIMED:
            return  # sent before, or being sent by another task
        try:
            wamid = await self._paced_send(session, text)
        except BaseException:
            await self._claims.release(key)
            raise
        await self._claims.complete(key, whatsapp_message_id=wamid)
        if wamid is None:
            log.info("transcript_echo_not_paced")

    async def _paced_send(self, session: Session, text: str) -> str | None:
        for _ in range(_ECHO_ATTEMPTS):
            reservation = self._pacer.reserve(
                session.business_phone_number_id, session.customer_key
            )
            if reservation.admitted:
                if reservation.wait_s > 0:
                    await self._clock.sleep(reservation.wait_s)
                recipient = Recipient(wa_id=session.wa_id, bsuid=session.bsuid)
                body = f"🔊 “{text}”"
                return await self._whatsapp.send(
                    origination_id=session.origination_id,
                    message={
                        **recipient.fields(),
                        "type": "text",
                        "text": {"preview_url": False, "body": body},
                    },
                )
            await self._clock.sleep(reservation.wait_s)
        return None
