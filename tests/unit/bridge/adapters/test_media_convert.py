"""Conversions produce what Connect takes, and stop at their bounds."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import av
import pytest
from PIL import Image

from service.bridge.adapters.media_convert import (
    ConversionError,
    ConversionLimits,
    to_mp4,
    to_ogg_opus,
    to_png,
    to_wav,
)
from tests.support.media import FIXTURES, make_3gp, make_wav

LIMITS = ConversionLimits()


@pytest.mark.parametrize(
    ("name", "animated"), [("sticker.webp", False), ("sticker_animated.webp", True)]
)
async def test_webp_stickers_become_png_and_animation_is_reported(tmp_path: Path, name, animated):
    target = tmp_path / "out.png"
    converted = await to_png(FIXTURES / name, target, LIMITS)
    assert converted.animated is animated
    with Image.open(target) as image:
        assert image.format == "PNG"
        assert image.size == (512, 512)
    assert converted.size == target.stat().st_size


@pytest.mark.parametrize("name", ["voice_en.ogg", "voice_en.mp3", "voice_en.m4a", "voice_en.amr"])
async def test_audio_becomes_16_khz_mono_wav(tmp_path: Path, name):
    target = tmp_path / "out.wav"
    converted = await to_wav(FIXTURES / name, target, LIMITS)
    with wave.open(str(target)) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (16000, 1, 2)
        frames = audio.getnframes()
    assert converted.duration_s == pytest.approx(frames / 16000)
    assert 3.5 < (converted.duration_s or 0) < 4.5


async def test_output_over_the_limit_stops_the_conversion(tmp_path: Path):
    with pytest.raises(ConversionError, match="too large"):
        await to_wav(
            FIXTURES / "voice_en.ogg", tmp_path / "o.wav", ConversionLimits(max_output_bytes=10_000)
        )


async def test_cpu_budget_stops_the_conversion(tmp_path: Path):
    with pytest.raises(ConversionError, match="too long"):
        await to_wav(FIXTURES / "voice_en.ogg", tmp_path / "o.wav", ConversionLimits(cpu_s=1e-9))


async def test_what_is_not_audio_or_an_image_is_a_conversion_error(tmp_path: Path):
    with pytest.raises(ConversionError):
        await to_wav(FIXTURES / "invoice.pdf", tmp_path / "o.wav", LIMITS)
    with pytest.raises(ConversionError):
        await to_png(FIXTURES / "invoice.pdf", tmp_path / "o.png", LIMITS)


def _streams(path: Path) -> tuple[str, float, dict[str, str]]:
    """Container format, duration in seconds, and codec per stream type, read back by PyAV."""
    with av.open(str(path)) as media:
        codecs: dict[str, str] = {s.type: s.codec_context.name for s in media.streams}
        return media.format.name, (media.duration or 0) / av.time_base, codecs


def _video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as media:
        return [bytes(p) for p in media.demux(media.streams.video[0]) if p.size]


def _duration(path: Path) -> float:
    return _streams(path)[1]


async def test_an_h263_3gp_becomes_an_h264_aac_mp4_of_the_same_length(tmp_path: Path):
    # clip.3gp: H.263 (mp4 cannot carry it) + AAC (copied).
    target = tmp_path / "out.mp4"
    converted = await to_mp4(FIXTURES / "clip.3gp", target, LIMITS)
    formats, duration, codecs = _streams(target)
    assert "mp4" in formats.split(",")
    assert codecs == {"video": "h264", "audio": "aac"}
    assert duration == pytest.approx(_duration(FIXTURES / "clip.3gp"), abs=0.2)
    assert converted.duration_s == pytest.approx(duration)
    assert converted.size == target.stat().st_size
    with av.open(str(target)) as media:
        frames = list(media.decode(video=0))
    assert len(frames) == 40  # every frame of the 4 s at 10 fps, decodable
    assert (frames[0].width, frames[0].height) == (176, 144)


async def test_h264_video_is_copied_untouched_and_amr_audio_becomes_aac(tmp_path: Path):
    source = make_3gp(tmp_path / "phone.3gp", video="libx264", audio="libopencore_amrnb")
    target = tmp_path / "out.mp4"
    # No re-encode budget at all: H.264 is not re-encoded, so it still converts.
    converted = await to_mp4(source, target, ConversionLimits(max_reencode_pixels=0))
    _, duration, codecs = _streams(target)
    assert codecs == {"video": "h264", "audio": "aac"}
    assert _video_packets(target) == _video_packets(source)
    assert duration == pytest.approx(2.0, abs=0.2)
    assert converted.size == target.stat().st_size


@pytest.mark.parametrize(("video", "audio"), [("mpeg4", "aac"), ("h263", "libopencore_amrnb")])
async def test_other_3gp_codecs_are_re_encoded_to_what_browsers_play(tmp_path: Path, video, audio):
    source = make_3gp(tmp_path / "old.3gp", video=video, audio=audio)
    target = tmp_path / "out.mp4"
    await to_mp4(source, target, LIMITS)
    _, duration, codecs = _streams(target)
    assert codecs == {"video": "h264", "audio": "aac"}
    assert duration == pytest.approx(2.0, abs=0.2)


async def test_a_video_without_sound_stays_without(tmp_path: Path):
    source = make_3gp(tmp_path / "mute.3gp", video="h263", audio=None)
    await to_mp4(source, tmp_path / "out.mp4", LIMITS)
    assert _streams(tmp_path / "out.mp4")[2] == {"video": "h264"}


async def test_a_video_too_big_to_re_encode_is_refused_before_any_work(tmp_path: Path):
    # clip.3gp is 176 x 144 x 40 frames = ~1 Mpixel.
    with pytest.raises(ConversionError, match=r"re-encoded to H\.264") as refused:
        await to_mp4(
            FIXTURES / "clip.3gp",
            tmp_path / "out.mp4",
            ConversionLimits(max_reencode_pixels=1_000_000, cpu_s=1e-9),
        )
    assert "176x144" in refused.value.reason
    assert not (tmp_path / "out.mp4").exists()


async def test_video_conversion_stops_at_its_cpu_and_size_bounds(tmp_path: Path):
    with pytest.raises(ConversionError, match="too long"):
        await to_mp4(FIXTURES / "clip.3gp", tmp_path / "a.mp4", ConversionLimits(cpu_s=1e-9))
    with pytest.raises(ConversionError, match="too large"):
        await to_mp4(
            FIXTURES / "clip.3gp", tmp_path / "b.mp4", ConversionLimits(max_output_bytes=10_000)
        )


async def test_what_is_not_a_video_is_a_conversion_error(tmp_path: Path):
    with pytest.raises(ConversionError, match="could not be read"):
        await to_mp4(FIXTURES / "invoice.pdf", tmp_path / "a.mp4", LIMITS)
    with pytest.raises(ConversionError, match="no video"):
        await to_mp4(FIXTURES / "voice_en.m4a", tmp_path / "b.mp4", LIMITS)


def _opus(path: Path) -> tuple[str, str, int, int, float]:
    with av.open(str(path)) as media:
        [stream] = media.streams.audio
        context = stream.codec_context
        decoded = sum(frame.samples for frame in media.decode(audio=0))
        return (
            media.format.name,
            context.name,
            context.channels,
            context.sample_rate,
            decoded / 48_000,
        )


async def test_an_agents_stereo_wav_becomes_mono_ogg_opus(tmp_path: Path):
    source = make_wav(tmp_path / "recording.wav", seconds=3.0, rate=44_100, channels=2)
    target = tmp_path / "out.ogg"
    converted = await to_ogg_opus(source, target, LIMITS)
    formats, codec, channels, rate, seconds = _opus(target)
    assert (formats, codec, channels, rate) == ("ogg", "opus", 1, 48_000)
    assert seconds == pytest.approx(3.0, abs=0.05)
    assert converted.duration_s == pytest.approx(3.0, abs=0.05)
    # 32 kbps: ~12 KB for 3 s, a twentieth of the 529 KB wav.
    assert converted.size == target.stat().st_size < 16_000


@pytest.mark.parametrize("name", ["voice_en.mp3", "voice_en.amr", "voice_en.m4a"])
async def test_other_audio_becomes_ogg_opus_too(tmp_path: Path, name):
    await to_ogg_opus(FIXTURES / name, tmp_path / "out.ogg", LIMITS)
    formats, codec, channels, _, seconds = _opus(tmp_path / "out.ogg")
    assert (formats, codec, channels) == ("ogg", "opus", 1)
    assert 3.5 < seconds < 4.5


async def test_opus_conversion_stops_at_its_bounds_and_refuses_what_is_not_audio(tmp_path: Path):
    source = make_wav(tmp_path / "r.wav", seconds=3.0)
    with pytest.raises(ConversionError, match="too long"):
        await to_ogg_opus(source, tmp_path / "a.ogg", ConversionLimits(cpu_s=1e-9))
    with pytest.raises(ConversionError, match="too large"):
        await to_ogg_opus(source, tmp_path / "b.ogg", ConversionLimits(max_output_bytes=2_000))
    with pytest.raises(ConversionError):
        await to_ogg_opus(FIXTURES / "invoice.pdf", tmp_path / "c.ogg", LIMITS)


def test_the_bridge_starts_without_loading_pyav_or_pillow():
    """16 MB of an idle bridge's memory: loaded the first time a file is converted."""
    probe = "import sys, service.app; print(sorted({'av', 'PIL'} & set(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
