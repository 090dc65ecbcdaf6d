"""Speech analysis in a child process: decode the media, and recognise its words if asked.

PocketSphinx holds the GIL for the whole decode (about half a second per second of audio
on a small machine), which would freeze the simulator's event loop while the bridge talks
to it. A child Python per job keeps the simulator answering, uses the other core, gives
every job a fresh decoder (results do not depend on earlier jobs), and makes a cancelled
job a killed process. The child reads the media on stdin and writes one JSON object.

Run as `python -m service.local.speech.worker [--recognise]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from service.local.speech.audio import MediaError, decode
from service.local.speech.recognizer import recognise as recognise_words
from service.local.speech.words import Word


class AnalysisError(RuntimeError):
    """The child process crashed (not a media problem: those are `MediaError`)."""


@dataclass(frozen=True, slots=True)
class Analysis:
    media_format: str
    sample_rate: int
    duration_s: float
    # None when recognition was not asked for (the expected speech is known).
    words: list[Word] | None
    recognition_s: float


async def analyse(data: bytes, *, recognise: bool) -> Analysis:
    """Decode (and recognise) `data` out of process; `MediaError` if it is not audio."""
    args = [sys.executable, "-m", __name__] + (["--recognise"] if recognise else [])
    process = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await process.communicate(data)
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise AnalysisError(f"speech analysis exited with {process.returncode}: {tail[0]}")
    answer: dict[str, Any] = json.loads(out)
    if "failure" in answer:
        raise MediaError(answer["failure"])
    words = answer["words"]
    return Analysis(
        media_format=answer["media_format"],
        sample_rate=answer["sample_rate"],
        duration_s=answer["duration_s"],
        words=None if words is None else [Word(**word) for word in words],
        recognition_s=answer["recognition_s"],
    )


def _child(data: bytes, *, recognise: bool) -> dict[str, Any]:
    try:
        audio = decode(data)
    except MediaError as exc:
        return {"failure": str(exc)}
    started = time.perf_counter()
    words = [asdict(word) for word in recognise_words(audio.pcm)] if recognise else None
    return {
        "media_format": audio.media_format,
        "sample_rate": audio.sample_rate,
        "duration_s": audio.duration_s,
        "words": words,
        "recognition_s": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recognise", action="store_true")
    options = parser.parse_args()
    answer = _child(sys.stdin.buffer.read(), recognise=options.recognise)
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    main()
