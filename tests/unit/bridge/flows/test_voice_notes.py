"""Voice-note transcripts for the agent: wording, failures, and never blocking."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from service.bridge.adapters.transcribe import Transcript, TranscriptionFailedError, job_name
from service.bridge.flows.voice_notes import TranscriptEcho, VoiceNotes, voice_line
from service.bridge.policy.pacing import Pacer, PacingConfig
from service.errors import DependencyUnavailableError
from tests.fakes.bridge import FakeSendClaims, FakeWhatsApp, make_session
from tests.support.clock import FakeClock

SESSION = make_session(
    business="200000000000002",
    customer="5215512345678",
    initial_contact_id="c1",
    wa_id="5215512345678",
)


def test_the_line_names_duration_language_and_words():
    assert voice_line(14.2, "en-US", "Hello there.") == '🔊 Voice note, 0:14, en-US: "Hello there."'
    assert voice_line(75, None, None) == "🔊 Voice note, 1:15"
    long = voice_line(3, "es-US", "palabra " * 500)
    assert len(long) < 1000
    assert long.endswith('…"')


def test_job_names_are_what_transcribe_accepts():
    assert job_name("in-abc/p1#x") == "bridge-in-abc-p1-x"


class FakeTranscriber:
    def __init__(self, result: Transcript | Exception, delay_s: float = 0.0) -> None:
        self.result, self.delay_s = result, delay_s

    async def transcribe(self, *, key: str, token: str, timeout_s: float) -> Transcript:
        del key, token, timeout_s
        await asyncio.sleep(self.delay_s)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


class FakeConnection:
    def __init__(self) -> None:
        self.notes: list[tuple[str, str]] = []

    async def note(self, session: Any, text: str, *, client_token: str) -> bool:
        del session
        self.notes.append((text, client_token))
        return True


async def _run(
    result: Transcript | Exception, duration_s: float | None = 4.0
) -> list[tuple[str, str]]:
    connection = FakeConnection()
    notes = VoiceNotes(
        transcriber=cast("Any", FakeTranscriber(result)), connection=cast("Any", connection)
    )
    notes.transcribe_later(SESSION, key="k", duration_s=duration_s, token="tok")
    await notes.drain(5)
    return connection.notes


async def test_a_transcript_reaches_the_agent_with_its_own_token():
    assert await _run(Transcript("Hola.", "es-US", 3.9)) == [
        ('🔊 Voice note, 0:04, es-US: "Hola."', "tok-transcript")
    ]


async def test_without_a_known_duration_the_last_word_gives_it():
    [(text, _)] = await _run(Transcript("Hi.", "en-US", 9.6), duration_s=None)
    assert text.startswith("🔊 Voice note, 0:10, en-US")


async def test_silence_failure_and_outage_each_give_a_note_with_the_duration():
    [(silence, _)] = await _run(Transcript("", "en-US", None))
    [(failed, _)] = await _run(TranscriptionFailedError("the transcription took too long"))
    [(outage, _)] = await _run(DependencyUnavailableError("down"))
    assert silence == "🔊 Voice note, 0:04: no speech recognised."
    assert failed == "🔊 Voice note, 0:04: no transcript (the transcription took too long)."
    assert outage == "🔊 Voice note, 0:04: no transcript (Transcribe unavailable)."


async def test_transcribe_later_returns_at_once_and_drain_cancels_what_overstays():
    connection = FakeConnection()
    slow = FakeTranscriber(Transcript("late", "en-US", 1.0), delay_s=30)
    notes = VoiceNotes(transcriber=cast("Any", slow), connection=cast("Any", connection))
    notes.transcribe_later(SESSION, key="k", duration_s=1.0, token="tok")
    await notes.drain(0.05)
    assert connection.notes == []


async def _echoed(result: Transcript | Exception, echo: TranscriptEcho) -> list[tuple[str, str]]:
    connection = FakeConnection()
    notes = VoiceNotes(
        transcriber=cast("Any", FakeTranscriber(result)),
        connection=cast("Any", connection),
        echo=echo,
    )
    notes.transcribe_later(SESSION, key="k", duration_s=4.0, token="tok")
    await notes.drain(5)
    return connection.notes


async def test_the_echo_sends_the_words_to_the_customer_once_and_never_an_empty_one():
    clock = FakeClock()
    whatsapp, claims = FakeWhatsApp(), FakeSendClaims(clock)
    echo = TranscriptEcho(
        claims=claims, pacer=Pacer(PacingConfig(), clock=clock), whatsapp=whatsapp, clock=clock
    )

    await _echoed(Transcript("Hola.", "es-US", 3.9), echo)
    await _echoed(Transcript("Hola.", "es-US", 3.9), echo)  # replayed after a crash
    await _echoed(Transcript("", "es-US", None), echo)  # silence: nothing to echo

    assert whatsapp.bodies == ["🔊 “Hola.”"]
    assert whatsapp.sent[0].message["to"] == "5215512345678"
    assert claims.state("tok-echo") == "COMPLETE"


async def test_a_failed_echo_never_costs_the_agent_the_transcript():
    clock = FakeClock()
    whatsapp, claims = FakeWhatsApp(), FakeSendClaims(clock)
    whatsapp.fail("send", DependencyUnavailableError("down"))
    echo = TranscriptEcho(
        claims=claims, pacer=Pacer(PacingConfig(), clock=clock), whatsapp=whatsapp, clock=clock
    )
    [(note, _)] = await _echoed(Transcript("Hi.", "en-US", 1.0), echo)
    assert note.startswith("🔊 Voice note, 0:04, en-US")
    assert claims.state("tok-echo") is None  # released: a replay may echo it
