"""Transcribe's batch output document, and its language identification scores.

The shape a real job writes: `jobName`, `accountId`, `status`, and `results` with
`transcripts[0].transcript`, `items` (one per word, `pronunciation` with times and a
confidence, `punctuation` without), `audio_segments`, and for identified-language jobs
`language_code` and `language_identification` (every option with its score). Numbers are
strings, as in the real files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from service.local.speech.words import Word

# The identified language's score when the simulator knows the language (an en-* option
# PocketSphinx recognises, or the test's expected language among the options).
_SURE: Final = 0.96
_TOKEN = re.compile(r"[\w'\u2019-]+|[^\w\s]")
_WORD = re.compile(r"[\w'\u2019-]")
_SPREAD_CONFIDENCE: Final = 0.99


@dataclass(frozen=True, slots=True)
class LanguageChoice:
    code: str
    score: float
    scores: tuple[tuple[str, float], ...]


def identify(options: Sequence[str], spoken: str | None) -> LanguageChoice:
    """Transcribe picks one of the options; the simulator picks the spoken language.

    `spoken` is the language the audio is in when known (a test's expected language),
    else English, the one language PocketSphinx knows. Not among the options: the option
    of the same language (es-ES for es-US), else the first option with an unsure score.
    """
    wanted = spoken or "en-US"
    family = wanted.split("-", 1)[0]
    chosen = next(
        (code for code in options if code == wanted),
        next((code for code in options if code.split("-", 1)[0] == family), None),
    )
    if chosen is None:
        even = round(1 / len(options), 4)
        return LanguageChoice(options[0], even, tuple((code, even) for code in options))
    rest = round((1 - _SURE) / max(len(options) - 1, 1), 4)
    scores = ((chosen, _SURE), *((code, rest) for code in options if code != chosen))
    return LanguageChoice(chosen, _SURE, scores)


def _decimal(value: float) -> str:
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


Token = tuple[str, Word | None]  # content, and its timing unless punctuation


def _is_word(token: str) -> bool:
    return _WORD.match(token) is not None


def tokens_of_text(text: str, duration_s: float) -> list[Token]:
    """An expected transcript as items: its words spread evenly over the audio."""
    tokens = _TOKEN.findall(text)
    step = duration_s / max(sum(1 for token in tokens if _is_word(token)), 1)
    result: list[Token] = []
    index = 0
    for token in tokens:
        if not _is_word(token):
            result.append((token, None))
            continue
        start, end = round(index * step, 3), round((index + 1) * step, 3)
        result.append((token, Word(token, start, end, _SPREAD_CONFIDENCE)))
        index += 1
    return result


def tokens_of_words(words: Sequence[Word]) -> list[Token]:
    """Recogniser output styled as Transcribe writes it: capitalised, `I`, a full stop."""
    result: list[Token] = [("I" if word.text == "i" else word.text, word) for word in words]
    if not result:
        return []
    first, timing = result[0]
    result[0] = (first[:1].upper() + first[1:], timing)
    return [*result, (".", None)]


def _transcript(tokens: Sequence[Token]) -> str:
    text = ""
    for content, word in tokens:
        text += (" " if text and word is not None else "") + content
    return text


def _item(index: int, content: str, word: Word | None) -> dict[str, Any]:
    if word is None:
        return {
            "id": index,
            "type": "punctuation",
            "alternatives": [{"confidence": "0.0", "content": content}],
        }
    return {
        "id": index,
        "type": "pronunciation",
        "alternatives": [{"confidence": _decimal(word.confidence), "content": content}],
        "start_time": _decimal(word.start_s),
        "end_time": _decimal(word.end_s),
    }


def _segments(tokens: Sequence[Token], transcript: str) -> list[dict[str, Any]]:
    timed = [word for _, word in tokens if word is not None]
    if not timed:
        return []
    return [
        {
            "id": 0,
            "transcript": transcript,
            "start_time": _decimal(timed[0].start_s),
            "end_time": _decimal(timed[-1].end_s),
            "items": list(range(len(tokens))),
        }
    ]


def transcript_document(
    *,
    job_name: str,
    account_id: str,
    tokens: Sequence[Token],
    language: LanguageChoice | None,
) -> dict[str, Any]:
    """The output file of a completed job (no tokens: silence, an empty transcript)."""
    transcript = _transcript(tokens)
    results: dict[str, Any] = {
        "transcripts": [{"transcript": transcript}],
        "items": [_item(index, content, word) for index, (content, word) in enumerate(tokens)],
        "audio_segments": _segments(tokens, transcript),
    }
    if language is not None:
        results["language_code"] = language.code
        results["language_identification"] = [
            {"score": f"{score:.4f}", "code": code} for code, score in language.scores
        ]
    return {
        "jobName": job_name,
        "accountId": account_id,
        "status": "COMPLETED",
        "results": results,
    }
