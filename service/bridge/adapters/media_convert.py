"""Conversions of customer files into types Connect chat takes, file to file.

WebP stickers become PNG with Pillow (an animated one: its first frame); audio WhatsApp
sends (Ogg/Opus voice notes, mp3, aac, amr, m4a) becomes WAV, 16 kHz mono, decoded with
PyAV (FFmpeg inside the wheel, no external binary). Both run in a worker thread so the
event loop keeps serving other customers, and both are bounded: the thread's CPU time is
checked while decoding and the output stops at the attachment size limit, so one hostile
file cannot hold a core or fill the disk. A thread cannot be killed, so the CPU bound is
checked between decoded frames; a single frame is small (at most tens of milliseconds).
"""

from __future__ import annotations

import asyncio
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import av
import av.container
import av.error
from PIL import Image, UnidentifiedImageError

WAV_RATE: Final = 16_000
_WAV_HEADER_BYTES: Final = 44
_SAMPLE_BYTES: Final = 2
# The largest sticker WhatsApp sends is 500 KB; a 512 x 512 RGBA PNG is at most ~1 MB.
_MAX_IMAGE_PIXELS: Final = 4096 * 4096


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


async def to_png(source: Path, target: Path, limits: ConversionLimits) -> Converted:
    return await asyncio.to_thread(_to_png, source, target, limits)


async def to_wav(source: Path, target: Path, limits: ConversionLimits) -> Converted:
    return await asyncio.to_thread(_to_wav, source, target, limits)


def _to_png(source: Path, target: Path, limits: ConversionLimits) -> Converted:
    try:
        with Image.open(source) as image:
            width, height = image.size
            if width * height > _MAX_IMAGE_PIXELS:
                raise ConversionError("the image is too large to convert")
            animated = bool(getattr(image, "is_animated", False))
            image.seek(0)
            image.convert("RGBA").save(target, format="PNG", optimize=False)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ConversionError("the image could not be read") from exc
    size = target.stat().st_size
    if size > limits.max_output_bytes:
        raise ConversionError("the converted image is too large")
    return Converted(size=size, animated=animated)


def _to_wav(source: Path, target: Path, limits: ConversionLimits) -> Converted:
    started_cpu = time.thread_time()
    budget_samples = (limits.max_output_bytes - _WAV_HEADER_BYTES) // _SAMPLE_BYTES
    samples = 0
    try:
        container = av.open(str(source), mode="r")
    except (av.error.FFmpegError, ValueError) as exc:
        raise ConversionError("the audio could not be read") from exc
    with container, wave.open(str(target), "wb") as out:
        if not container.streams.audio:
            raise ConversionError("the file has no audio")
        out.setnchannels(1)
        out.setsampwidth(_SAMPLE_BYTES)
        out.setframerate(WAV_RATE)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=WAV_RATE)

        def write(frame: av.AudioFrame | None) -> None:
            nonlocal samples
            for pcm in resampler.resample(frame):
                samples += pcm.samples
                if samples > budget_samples:
                    raise ConversionError("the converted audio would be too large")
                out.writeframes(bytes(pcm.planes[0])[: pcm.samples * _SAMPLE_BYTES])

        try:
            for frame in _audio_frames(container):
                write(frame)
                if time.thread_time() - started_cpu > limits.cpu_s:
                    raise ConversionError("converting the audio took too long")
            write(None)
        except av.error.FFmpegError as exc:
            raise ConversionError("the audio could not be decoded") from exc
    if samples == 0:
        raise ConversionError("no audio could be decoded")
    return Converted(size=target.stat().st_size, duration_s=samples / WAV_RATE)


def _audio_frames(container: av.container.InputContainer) -> Iterator[av.AudioFrame]:
    for packet in container.demux(container.streams.audio[0]):
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            # One damaged packet (amr files often end in one) costs its few milliseconds,
            # not the voice note; nothing decodable at all still fails.
            continue
        for frame in frames:
            if isinstance(frame, av.AudioFrame):
                yield frame
