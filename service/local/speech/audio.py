"""Media bytes → 16 kHz mono 16-bit PCM with PyAV (FFmpeg ships inside its wheel).

Also tells what Transcribe would detect: the container as a `MediaFormat` name and the
source sample rate. Packets FFmpeg cannot decode are skipped, as the ffmpeg command does
(AMR comfort-noise frames are "not yet implemented" in FFmpeg's decoder); media with no
decodable audio at all is what Transcribe calls an unsupported media format.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final

import av
import av.error

PCM_RATE: Final = 16_000
_BYTES_PER_SAMPLE: Final = 2
# FFmpeg demuxer names → Transcribe's MediaFormat values (the formats batch jobs accept).
_FORMATS: Final = {
    "ogg": "ogg",
    "mp3": "mp3",
    "mov,mp4,m4a,3gp,3g2,mj2": "mp4",
    "amr": "amr",
    "wav": "wav",
    "flac": "flac",
    "matroska,webm": "webm",
}
# ISO base media files whose brand says "audio only" are what Transcribe calls m4a.
_M4A_BRANDS: Final = (b"M4A ", b"M4B ")

UNSUPPORTED: Final = "Unsupported media format"


class MediaError(Exception):
    """The media cannot be transcribed; the message is Transcribe's FailureReason."""


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    pcm: bytes
    media_format: str
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / (PCM_RATE * _BYTES_PER_SAMPLE)


def _media_format(demuxer: str, data: bytes) -> str:
    name = _FORMATS.get(demuxer)
    if name is None:
        raise MediaError(f"{UNSUPPORTED}: the media is not audio Transcribe can read.")
    if name == "mp4" and data[8:12] in _M4A_BRANDS:
        return "m4a"
    return name


def _plane_bytes(frame: av.AudioFrame) -> bytes:
    # Packed s16 mono: one plane, possibly padded past the last sample.
    return bytes(frame.planes[0])[: frame.samples * _BYTES_PER_SAMPLE]


def decode(data: bytes) -> DecodedAudio:
    """The media's first audio stream as PCM; `MediaError` when there is none to decode."""
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.error.FFmpegError, ValueError) as exc:
        raise MediaError(f"{UNSUPPORTED}: the media could not be read.") from exc
    with container:
        media_format = _media_format(container.format.name, data)
        if not container.streams.audio:
            raise MediaError(f"{UNSUPPORTED}: the media has no audio stream.")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=PCM_RATE)
        chunks: list[bytes] = []
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    continue
                for frame in frames:
                    if isinstance(frame, av.AudioFrame):
                        chunks += [_plane_bytes(out) for out in resampler.resample(frame)]
            chunks += [_plane_bytes(out) for out in resampler.resample(None)]
        except av.error.FFmpegError as exc:
            raise MediaError(f"{UNSUPPORTED}: the audio could not be decoded.") from exc
        sample_rate = int(stream.sample_rate or 0)
    pcm = b"".join(chunks)
    if not pcm:
        raise MediaError(f"{UNSUPPORTED}: no audio could be decoded.")
    return DecodedAudio(pcm=pcm, media_format=media_format, sample_rate=sample_rate)
