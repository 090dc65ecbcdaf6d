"""Media fixtures, Transcribe job polling and word error rate, for the media parity tests."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any, Final

FIXTURES: Final = Path(__file__).resolve().parent.parent / "fixtures" / "media"
# What the voice-note fixtures say (tests/fixtures/media/README.md).
SPOKEN: Final = "hello I would like to check the status of my order please"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def words(text: str) -> list[str]:
    """Lower-case words without punctuation: what WER compares."""
    return re.findall(r"[a-z0-9']+", text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, by edit distance."""
    ref, hyp = words(reference), words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i]
        for j, hyp_word in enumerate(hyp, start=1):
            current.append(
                min(
                    previous[j] + 1,
                    current[j - 1] + 1,
                    previous[j - 1] + (ref_word != hyp_word),
                )
            )
        previous = current
    return previous[-1] / max(len(ref), 1)


async def wait_for_job(client: Any, name: str, *, timeout_s: float = 45.0) -> dict[str, Any]:
    """The job once COMPLETED or FAILED, polled as a bridge would."""
    deadline = time.monotonic() + timeout_s
    while True:
        job: dict[str, Any] = (await client.get_transcription_job(TranscriptionJobName=name))[
            "TranscriptionJob"
        ]
        if job["TranscriptionJobStatus"] in {"COMPLETED", "FAILED"}:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {name} still {job['TranscriptionJobStatus']}")
        await asyncio.sleep(0.05)
