"""Offline English speech recognition with PocketSphinx (its en-us model ships in the wheel).

Audio with (almost) no voice activity yields no words, as Transcribe gives an empty
transcript for silence: PocketSphinx alone hears a word or two in digital silence. One
utterance per call, decoded with `full_utt` (cepstral mean normalised over the whole
utterance), so a result depends only on the audio, never on what was recognised before.
Words come with times (10 ms frames) and PocketSphinx's posterior probability as the
confidence; silences, fillers and sentence markers are dropped, and alternative
pronunciations (`the(2)`) are reported as the word.
"""

from __future__ import annotations

import re
from typing import Final

from pocketsphinx import Decoder, Vad

from service.local.speech.audio import PCM_RATE
from service.local.speech.words import Word

_FRAMES_PER_S: Final = 100
# The most aggressive voice activity mode, and the least speech worth recognising.
_VAD_MODE: Final = 3
_MIN_SPEECH_S: Final = 0.25
_ALTERNATIVE = re.compile(r"\(\d+\)$")


def _is_word(token: str) -> bool:
    # <s>, </s>, <sil>, [NOISE], ++GARBAGE++ are not speech.
    return not token.startswith(("<", "[", "+"))


def speech_seconds(pcm: bytes) -> float:
    """How much of 16 kHz mono 16-bit PCM a voice activity detector calls speech."""
    vad = Vad(_VAD_MODE, PCM_RATE)
    size = vad.frame_bytes
    frames = range(0, len(pcm) - size + 1, size)
    return sum(1 for start in frames if vad.is_speech(pcm[start : start + size])) * float(
        vad.frame_length
    )


def recognise(pcm: bytes) -> list[Word]:
    """English words in 16 kHz mono 16-bit PCM; none for silence."""
    if speech_seconds(pcm) < _MIN_SPEECH_S:
        return []
    decoder = Decoder(samprate=PCM_RATE, loglevel="FATAL")
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    if decoder.hyp() is None:
        return []
    return [
        Word(
            text=_ALTERNATIVE.sub("", segment.word),
            start_s=segment.start_frame / _FRAMES_PER_S,
            end_s=(segment.end_frame + 1) / _FRAMES_PER_S,
            confidence=min(max(float(segment.prob), 0.0), 1.0),
        )
        for segment in decoder.seg()
        if _is_word(segment.word)
    ]
