"""Conversions produce what Connect takes, and stop at their bounds."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from PIL import Image

from service.bridge.adapters.media_convert import (
    ConversionError,
    ConversionLimits,
    to_png,
    to_wav,
)
from tests.support.media import FIXTURES

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
