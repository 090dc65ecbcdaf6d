"""Media fixtures, Transcribe job polling and word error rate, for the media parity tests.

Besides the committed fixtures, `make_3gp` and `make_wav` write small synthetic files at
test time with PyAV and `wave`, for codec combinations the committed ones do not cover
(3gp as today's phones write it, H.264 + AMR-NB; MPEG-4 Part 2) and for an agent's .wav.
"""

from __future__ import annotations

import asyncio
import math
import re
import struct
import time
import wave
from pathlib import Path
from typing import Any, Final, Literal

import av

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


def make_3gp(
    path: Path,
    *,
    video: Literal["libx264", "h263", "mpeg4"],
    audio: Literal["libopencore_amrnb", "aac"] | None,
    seconds: float = 2.0,
    size: tuple[int, int] = (176, 144),
    fps: int = 10,
) -> Path:
    """A small 3gp: a moving gradient and a 440 Hz tone, `seconds` long (a few KB)."""
    width, height = size
    rate = 8_000 if audio == "libopencore_amrnb" else 16_000
    with av.open(str(path), mode="w", format="3gp") as out:
        # Every stream before the first packet: the header is written at the first mux.
        picture = out.add_stream(video, rate=fps)
        picture.width, picture.height, picture.pix_fmt = width, height, "yuv420p"
        sound = None if audio is None else out.add_stream(audio, rate=rate)
        if sound is not None:
            sound.layout = "mono"
            sound.bit_rate = 12_200 if audio == "libopencore_amrnb" else 32_000
        for index in range(round(seconds * fps)):
            frame = av.VideoFrame(width, height, "yuv420p")
            frame.planes[0].update(bytes((x + index * 8) & 0xFF for x in range(width)) * height)
            frame.planes[1].update(bytes([128]) * frame.planes[1].buffer_size)
            frame.planes[2].update(bytes([128]) * frame.planes[2].buffer_size)
            frame.pts = index
            out.mux(picture.encode(frame))
        out.mux(picture.encode(None))
        if sound is not None:
            total, start = round(seconds * rate), 0
            while start < total:
                samples = min(160, total - start)  # 20 ms at 8 kHz, AMR's frame
                pcm = av.AudioFrame(format="s16", layout="mono", samples=samples)
                pcm.planes[0].update(_tone(start, samples, rate))
                pcm.sample_rate, pcm.pts = rate, start
                start += samples
                out.mux(sound.encode(pcm))
            out.mux(sound.encode(None))
    return path


def make_wav(path: Path, *, seconds: float, rate: int = 44_100, channels: int = 2) -> Path:
    """A 16-bit PCM .wav of a 440 Hz tone, as an agent's recorder might save it."""
    mono = _tone(0, round(seconds * rate), rate)
    frames = b"".join(mono[i : i + 2] * channels for i in range(0, len(mono), 2))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


def _tone(start: int, samples: int, rate: int) -> bytes:
    return b"".join(
        struct.pack("<h", round(8000 * math.sin(2 * math.pi * 440 * (start + i) / rate)))
        for i in range(samples)
    )
