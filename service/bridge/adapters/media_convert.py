"""Conversions of media files into types the other side takes, file to file.

Inbound (customer → Connect chat): WebP stickers become PNG with Pillow (an animated one:
its first frame); audio WhatsApp sends (Ogg/Opus voice notes, mp3, aac, amr, m4a) becomes
WAV, 16 kHz mono; 3gp video becomes mp4 (H.264 + AAC). Outbound (agent → WhatsApp): audio
WhatsApp does not take (the agent's .wav recordings) becomes Ogg/Opus mono. Audio and
video go through PyAV (FFmpeg inside the wheel, no external binary).

Every conversion runs in a worker thread so the event loop keeps serving other customers,
and every one is bounded: the thread's CPU time is checked while converting and the output
stops at a size limit, so one hostile file cannot hold a core or fill the disk. A thread
cannot be killed, so the CPU bound is checked between frames; a single frame is small (at
most tens of milliseconds). FFmpeg's own threads are turned off (`thread_count = 1`) so
that all the work is done, and counted, in the worker thread: helper threads would escape
`time.thread_time()` and take the machine's other cores.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


class ConversionError(Exception):
    """The file could not be converted; `reason` is plain words for the agent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Converted:
    size: int
    animated: bool = False
    duration_s: float | None = None


@dataclass(frozen=True, slots=True)
class ConversionLimits:
    cpu_s: float = 20.0
    max_output_bytes: int = 20 * 1024 * 1024
    # A video whose codecs the agent's browser cannot play from an mp4 is re-encoded only
    # up to this many pixels (width x height x frames, from its header, judged before
    # starting): 20 min of a 176x144 15 fps feature-phone clip, 50 s of 640x480 at 30 fps.
    # libx264 (veryfast, one thread) measured ~70 Mpixel per CPU second, so that is ~6.5 s,
    # a third of `cpu_s`: a larger video is a note for the agent at once rather than a CPU
    # bound hit after 20 wasted seconds; a header that lies is still stopped by `cpu_s`.
    max_reencode_pixels: int = 450_000_000


async def to_png(source: Path, target: Path, limits: ConversionLimits) -> Converted:
    return await _in_thread("png", source, target, limits)


async def to_wav(source: Path, target: Path, limits: ConversionLimits) -> Converted:
    return await _in_thread("wav", source, target, limits)


async def to_mp4(source: Path, target: Path, limits: ConversionLimits) -> Converted:
    """A video (3gp) as mp4, H.264 + AAC: streams already in those codecs are copied."""
    return await _in_thread("mp4", source, target, limits)


async def to_ogg_opus(source: Path, target: Path, limits: ConversionLimits) -> Converted:
    """Any audio as Ogg/Opus mono, 48 kHz, 32 kbps: what WhatsApp plays as an audio message."""
    return await _in_thread("ogg_opus", source, target, limits)


_Kind = Literal["png", "wav", "mp4", "ogg_opus"]


async def _in_thread(
    kind: _Kind, source: Path, target: Path, limits: ConversionLimits
) -> Converted:
    return await asyncio.to_thread(_convert, kind, source, target, limits)


def _convert(kind: _Kind, source: Path, target: Path, limits: ConversionLimits) -> Converted:
    # PyAV and Pillow load here, in the worker thread, the first time a file needs them:
    # PyAV alone is 16 MB of a bridge that may never see a voice note or a sticker.
    from service.bridge.adapters import media_codecs  # noqa: PLC0415

    conversions = {
        "png": media_codecs.png,
        "wav": media_codecs.wav,
        "mp4": media_codecs.mp4,
        "ogg_opus": media_codecs.ogg_opus,
    }
    return conversions[kind](source, target, limits)
