"""The conversions themselves, with PyAV and Pillow; `media_convert` runs them in a worker
thread and loads this module there the first time a file needs converting.
"""

from __future__ import annotations

import time
import wave
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Final, Literal, Protocol

import av
import av.container
import av.error
from av.audio.stream import AudioStream
from av.packet import Packet
from av.stream import Stream
from av.video.stream import VideoStream
from PIL import Image, UnidentifiedImageError

from service.bridge.adapters.media_convert import ConversionError, ConversionLimits, Converted

WAV_RATE: Final = 16_000
# Ogg/Opus mono, as WhatsApp's own voice notes are (Meta takes only Opus in Ogg, and only
# mono). Opus codes at 48 kHz in 20 ms frames; 32 kbps keeps speech clear and music
# passable, and WhatsApp's 16 MB audio limit then holds over an hour. Constrained VBR: plain
# VBR measured 58 kbps on a noisy recording, so the size would depend on the room.
OPUS_RATE: Final = 48_000
OPUS_BIT_RATE: Final = 32_000
_OPUS_OPTIONS: Final = {"vbr": "constrained"}
_OPUS_FRAME_SAMPLES: Final = 960
# The mp4 the agent gets is H.264 + AAC, the one pair every browser and player opens:
# other codecs the mp4 muxer would take (MPEG-4 Part 2 video) still do not play in Chrome,
# and 3gp's H.263 video and AMR audio it does not take at all.
_MP4_VIDEO: Final = "h264"
_MP4_AUDIO: Final = "aac"
_AAC_FRAME_SAMPLES: Final = 1024
_AAC_BIT_RATE: Final = 64_000
# veryfast: a phone clip's size at a fraction of the CPU of the default preset; crf 26 is
# near what phones record at, so the copy is not visibly worse than the original.
_X264_OPTIONS: Final = {"preset": "veryfast", "crf": "26"}
_DEFAULT_VIDEO_RATE: Final = Fraction(25)
_WAV_HEADER_BYTES: Final = 44
_SAMPLE_BYTES: Final = 2
# The largest sticker WhatsApp sends is 500 KB; a 512 x 512 RGBA PNG is at most ~1 MB.
_MAX_IMAGE_PIXELS: Final = 4096 * 4096


def png(source: Path, target: Path, limits: ConversionLimits) -> Converted:
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


def wav(source: Path, target: Path, limits: ConversionLimits) -> Converted:
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


def ogg_opus(source: Path, target: Path, limits: ConversionLimits) -> Converted:
    started_cpu = time.thread_time()
    with _open_input(source, "audio") as container:
        if not container.streams.audio:
            raise ConversionError("the file has no audio")
        audio = container.streams.audio[0]
        try:
            with av.open(str(target), mode="w", format="ogg") as out:
                track = _AudioEncode(
                    out,
                    audio,
                    codec="libopus",
                    rate=OPUS_RATE,
                    mono=True,
                    bit_rate=OPUS_BIT_RATE,
                    frame_samples=_OPUS_FRAME_SAMPLES,
                    options=_OPUS_OPTIONS,
                )
                _pump(
                    container,
                    out,
                    {audio.index: track},
                    limits=limits,
                    started_cpu=started_cpu,
                    what="audio",
                )
        except av.error.FFmpegError as exc:
            raise ConversionError("the audio could not be converted") from exc
    if track.samples == 0:
        raise ConversionError("no audio could be decoded")
    return Converted(size=_size(target, limits, "audio"), duration_s=track.samples / OPUS_RATE)


def mp4(source: Path, target: Path, limits: ConversionLimits) -> Converted:
    started_cpu = time.thread_time()
    with _open_input(source, "video") as container:
        if not container.streams.video:
            raise ConversionError("the file has no video")
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        if video.codec_context.name != _MP4_VIDEO:
            _check_reencode_cost(video, container, limits)
        try:
            # faststart: the index goes first, so the agent's browser plays while loading.
            with av.open(
                str(target), mode="w", format="mp4", options={"movflags": "+faststart"}
            ) as out:
                # Only the first video and audio streams: another one, subtitles and data
                # (3gp's timed text, say) are left behind.
                video_track = _video_track(out, video)
                tracks = {video.index: video_track}
                if audio is not None:
                    tracks[audio.index] = _audio_track(out, audio)
                _pump(container, out, tracks, limits=limits, started_cpu=started_cpu, what="video")
        except av.error.FFmpegError as exc:
            raise ConversionError("the video could not be converted") from exc
    if not video_track.fed:
        raise ConversionError("no video could be decoded")
    return Converted(size=_size(target, limits, "video"), duration_s=_duration_s(target))


def _open_input(source: Path, what: str) -> av.container.InputContainer:
    try:
        return av.open(str(source), mode="r")
    except (av.error.FFmpegError, ValueError) as exc:
        raise ConversionError(f"the {what} could not be read") from exc


def _pump(
    container: av.container.InputContainer,
    out: av.container.OutputContainer,
    tracks: dict[int, _Track],
    *,
    limits: ConversionLimits,
    started_cpu: float,
    what: str,
) -> None:
    """Every packet of the tracks' streams through its track into `out`, within the bounds."""
    written = 0

    def write(packets: list[Packet[Stream]]) -> None:
        nonlocal written
        for packet in packets:
            written += packet.size
            out.mux(packet)
        if written > limits.max_output_bytes:
            raise ConversionError(f"the converted {what} would be too large")

    for packet in container.demux(*(container.streams[index] for index in tracks)):
        write(tracks[packet.stream.index].feed(packet))
        if time.thread_time() - started_cpu > limits.cpu_s:
            raise ConversionError(f"converting the {what} took too long")
    for track in tracks.values():
        write(track.finish())


def _size(target: Path, limits: ConversionLimits, what: str) -> int:
    size = target.stat().st_size  # with the container's index, which `_pump` did not count
    if size > limits.max_output_bytes:
        raise ConversionError(f"the converted {what} would be too large")
    return size


def _check_reencode_cost(
    video: VideoStream, container: av.container.InputContainer, limits: ConversionLimits
) -> None:
    width, height = video.codec_context.width, video.codec_context.height
    frames = video.frames
    if not frames:
        seconds = (
            float(video.duration * video.time_base)
            if video.duration and video.time_base
            else (container.duration or 0) / av.time_base
        )
        frames = int(seconds * (video.average_rate or _DEFAULT_VIDEO_RATE))
    if width * height * frames > limits.max_reencode_pixels:
        codec = video.codec_context.name
        raise ConversionError(
            f"its {codec} video would have to be re-encoded to H.264, too long a job"
            f" for a {width}x{height} video of {frames} frames"
        )


def _duration_s(path: Path) -> float | None:
    with av.open(str(path), mode="r") as written:
        return None if written.duration is None else written.duration / av.time_base


class _Track(Protocol):
    """One output stream: packets of its source in, packets for the muxer out."""

    @property
    def fed(self) -> bool: ...

    def feed(self, packet: Packet[Stream]) -> list[Packet[Stream]]: ...

    def finish(self) -> list[Packet[Stream]]: ...


def _video_track(out: av.container.OutputContainer, source: VideoStream) -> _Track:
    if source.codec_context.name == _MP4_VIDEO:
        return _Copy(out.add_stream_from_template(source))
    return _VideoEncode(out, source)


def _audio_track(out: av.container.OutputContainer, source: AudioStream) -> _Track:
    if source.codec_context.name == _MP4_AUDIO:
        return _Copy(out.add_stream_from_template(source))
    # AMR, usually: cheap to re-encode (a few ms per second of it), and AAC plays anywhere.
    return _AudioEncode(
        out, source, codec="aac", bit_rate=_AAC_BIT_RATE, frame_samples=_AAC_FRAME_SAMPLES
    )


class _Copy:
    """Packets moved into the new container as they are (remux): no decoding, little CPU."""

    def __init__(self, stream: VideoStream | AudioStream) -> None:
        self._stream = stream
        self.fed = False

    def feed(self, packet: Packet[Stream]) -> list[Packet[Stream]]:
        if packet.dts is None:
            return []  # the demuxer's end-of-stream marker, nothing to write
        packet.stream = self._stream  # mux rescales its timestamps to the new stream
        self.fed = True
        return [packet]

    def finish(self) -> list[Packet[Stream]]:
        return []


class _VideoEncode:
    """Decoded frames re-encoded with libx264 at the source's size and timestamps."""

    def __init__(self, out: av.container.OutputContainer, source: VideoStream) -> None:
        source.codec_context.thread_count = 1
        self._stream = out.add_stream(
            "libx264", rate=source.average_rate or _DEFAULT_VIDEO_RATE, options=_X264_OPTIONS
        )
        # 4:2:0 needs even sides; an odd-sized clip loses one pixel row or column.
        self._width = max(2, source.codec_context.width // 2 * 2)
        self._height = max(2, source.codec_context.height // 2 * 2)
        self._stream.width, self._stream.height = self._width, self._height
        self._stream.pix_fmt = "yuv420p"
        self._stream.codec_context.thread_count = 1
        if source.time_base is not None:
            self._stream.codec_context.time_base = source.time_base
        self._source = source
        self.fed = False

    def feed(self, packet: Packet[Stream]) -> list[Packet[Stream]]:
        try:
            frames = self._source.decode(packet)
        except av.error.FFmpegError:
            return []  # one damaged packet costs its frame, not the clip
        encoded: list[Packet[Stream]] = []
        for frame in frames:
            encoded += self._stream.encode(frame.reformat(self._width, self._height, "yuv420p"))
            self.fed = True
        return encoded

    def finish(self) -> list[Packet[Stream]]:
        return self._stream.encode(None)


class _AudioEncode:
    """Decoded audio resampled and re-encoded (AAC for mp4, Opus for WhatsApp)."""

    def __init__(
        self,
        out: av.container.OutputContainer,
        source: AudioStream,
        *,
        codec: Literal["aac", "libopus"],
        bit_rate: int,
        frame_samples: int,
        rate: int | None = None,
        mono: bool = False,
        options: dict[str, str] | None = None,
    ) -> None:
        source.codec_context.thread_count = 1
        rate = rate or source.codec_context.sample_rate or WAV_RATE
        layout = "mono" if mono or source.codec_context.channels <= 1 else "stereo"
        self._stream = out.add_stream(codec, rate=rate, options=options)
        self._stream.layout = layout
        self._stream.bit_rate = bit_rate
        self._stream.codec_context.thread_count = 1
        # The encoder's own sample format and frame size, so it takes each frame as it is.
        self._resampler = av.AudioResampler(
            format=self._stream.format, layout=layout, rate=rate, frame_size=frame_samples
        )
        self._source = source
        self.fed = False
        self.samples = 0

    def feed(self, packet: Packet[Stream]) -> list[Packet[Stream]]:
        try:
            frames = self._source.decode(packet)
        except av.error.FFmpegError:
            # One damaged packet (amr files often end in one) costs its few milliseconds,
            # not the recording; nothing decodable at all still fails.
            return []
        encoded: list[Packet[Stream]] = []
        for frame in frames:
            encoded += self._encode(frame)
            self.fed = True
        return encoded

    def finish(self) -> list[Packet[Stream]]:
        return self._encode(None) + self._stream.encode(None)

    def _encode(self, frame: av.AudioFrame | None) -> list[Packet[Stream]]:
        encoded: list[Packet[Stream]] = []
        for pcm in self._resampler.resample(frame):
            self.samples += pcm.samples
            encoded += self._stream.encode(pcm)
        return encoded
