"""Media benchmark: customers' files through the whole sandbox, measured at Connect.

Runs the embedded AWS and the simulator in this process (threads) and the bridge as its
own process (`python -m service run`), so the bridge's memory can be read from /proc.

Prints:
- attachment latency: from the media message's publication to SNS to the ATTACHMENT item
  in the Connect transcript, minus the quiet window (p50 / p99 / max over --runs images,
  sent one customer at a time so the figure is latency, not queueing);
- voice-note latency: from publication to the transcript line (deterministic transcripts,
  so the figure is the bridge's path plus job polling, not recognition);
- the bridge's resident memory idle, and its peak (VmHWM) while it forwards one
  --big-mb document (default 100 MB) with the attachment limit raised to 100 MB;
- conversion CPU per MB of input (WebP → PNG, Ogg/Opus → WAV, 3gp → mp4, an agent's .wav
  → Ogg/Opus), measured in this process; the 3gp and .wav inputs are 10 s samples of about
  1 MB made here with PyAV (FFmpeg's testsrc2 picture, a tone).

Usage: python -m bench.media_latency [--runs 20] [--voice-runs 5] [--big-mb 100] [--json F]
       python -m bench.media_latency --conversions-only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import av
import av.filter
import httpx
from av.frame import Frame

from bench.harness import bench_sandbox, percentile, status_kb
from service.bridge.adapters.media_convert import (
    ConversionLimits,
    to_mp4,
    to_ogg_opus,
    to_png,
    to_wav,
)

PREFIX = "benchmedia"
TOKEN = "bench-admin-token-0123456789"  # noqa: S105  the sandbox bridge's fixed token
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "media"
QUIET_S = 0.5
MIB = 1024 * 1024


async def _upload(http: httpx.AsyncClient, wa: str, data: bytes, mime: str, **params: str) -> str:
    response = await http.post(
        f"/sandbox/customers/{wa}/media",
        content=data,
        headers={"content-type": mime},
        params=params or None,
        timeout=120,
    )
    response.raise_for_status()
    return str(response.json()["mediaId"])


async def _send(http: httpx.AsyncClient, wa: str, message: dict[str, Any]) -> float:
    sent = time.time()
    (await http.post(f"/sandbox/customers/{wa}/messages", json=message)).raise_for_status()
    return sent


async def _items(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    contacts = (await http.get("/sandbox/contacts")).json()["contacts"]
    return [item for contact in contacts for item in contact["transcript"]]


async def _until(http: httpx.AsyncClient, test: Any, timeout_s: float) -> dict[str, Any]:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        for item in await _items(http):
            if test(item):
                return item
        await asyncio.sleep(0.05)
    raise SystemExit("timed out waiting for the transcript item")


def _at(item: dict[str, Any]) -> float:
    return datetime.fromisoformat(item["time"]).timestamp()


async def attachment_latencies(http: httpx.AsyncClient, runs: int) -> list[float]:
    photo = (FIXTURES / "photo.jpg").read_bytes()
    latencies = []
    for run in range(runs):
        wa = f"52155000{run:05d}"
        media = await _upload(http, wa, photo, "image/jpeg")
        sent = await _send(http, wa, {"type": "image", "image": {"id": media}})
        # One file per run, each run waits for its own: the newest attachment is this one.
        deadline = time.time() + 60
        while True:
            found = sorted((i for i in await _items(http) if i["type"] == "ATTACHMENT"), key=_at)
            if len(found) > run:
                latencies.append(_at(found[run]) - sent - QUIET_S)
                break
            if time.time() > deadline:
                raise SystemExit("timed out waiting for an attachment")
            await asyncio.sleep(0.05)
    return latencies


async def voice_latencies(http: httpx.AsyncClient, runs: int) -> list[float]:
    voice = (FIXTURES / "voice_en.ogg").read_bytes()
    latencies = []
    for run in range(runs):
        wa = f"52156000{run:05d}"
        # The simulator knows a transcript per file content: the same bytes say the same.
        media = await _upload(
            http, wa, voice, "audio/ogg", transcript="voice note", language="en-US"
        )
        sent = await _send(http, wa, {"type": "audio", "audio": {"id": media, "voice": True}})
        deadline = time.time() + 90
        while True:
            lines = sorted(
                (i for i in await _items(http) if (i["content"] or "").startswith("🔊")), key=_at
            )
            if len(lines) > run:
                latencies.append(_at(lines[run]) - sent)
                break
            if time.time() > deadline:
                raise SystemExit("timed out waiting for a transcript")
            await asyncio.sleep(0.05)
    return latencies


async def big_document(http: httpx.AsyncClient, pid: int, size_mb: int) -> dict[str, float]:
    wa = "5215700000001"
    data = b"%PDF-1.4\n" + os.urandom(size_mb * MIB - 9)
    media = await _upload(http, wa, data, "application/pdf", filename="big.pdf")
    del data
    idle_rss = status_kb(pid, "VmRSS") / 1024
    hwm_before = status_kb(pid, "VmHWM") / 1024
    sent = await _send(
        http, wa, {"type": "document", "document": {"id": media, "filename": "big.pdf"}}
    )
    item = await _until(
        http,
        lambda i: i["type"] == "ATTACHMENT" and i["attachments"][0]["name"] == "big.pdf",
        600,
    )
    return {
        "document_mb": size_mb,
        "bridge_rss_idle_mb": idle_rss,
        "bridge_peak_rss_before_mb": hwm_before,
        "bridge_peak_rss_after_mb": status_kb(pid, "VmHWM") / 1024,
        "forward_s": _at(item) - sent - QUIET_S,
    }


def _generated(source: str, args: str, sink: str) -> Iterator[Frame]:
    """The frames of one of FFmpeg's source filters (testsrc2, sine)."""
    graph = av.filter.Graph()
    made, end = graph.add(source, args), graph.add(sink)
    made.link_to(end)
    graph.configure()
    while True:
        try:
            yield end.pull()
        except (av.error.EOFError, av.error.BlockingIOError):
            return


def _sample_3gp(
    path: Path, video: Literal["libx264", "h263"], width: int, height: int, seconds: int = 10
) -> Path:
    """A 3gp as a phone writes it: `video` at 30 fps, ~800 kbps, and AMR-NB audio."""
    with av.open(str(path), mode="w", format="3gp") as out:
        stream = out.add_stream(video, rate=30)
        stream.width, stream.height = width, height
        stream.pix_fmt, stream.bit_rate = "yuv420p", 800_000
        sound = out.add_stream("libopencore_amrnb", rate=8000)
        sound.layout, sound.bit_rate = "mono", 12_200
        picture = f"size={width}x{height}:rate=30:duration={seconds}"
        for frame in _generated("testsrc2", picture, "buffersink"):
            if isinstance(frame, av.VideoFrame):
                out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        tone = f"frequency=440:sample_rate=8000:duration={seconds}"
        for frame in _generated("sine", tone, "abuffersink"):
            if isinstance(frame, av.AudioFrame):
                out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    return path


def _sample_wav(path: Path, seconds: int = 10) -> Path:
    """A 48 kHz mono 16-bit .wav, as a browser's recorder saves an agent's voice."""
    with av.open(str(path), mode="w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=48_000)
        stream.layout = "mono"
        tone = f"frequency=300:sample_rate=48000:duration={seconds}"
        for frame in _generated("sine", tone, "abuffersink"):
            if isinstance(frame, av.AudioFrame):
                out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


async def conversion_cpu_per_mb(repeat: int = 20) -> dict[str, float]:
    limits = ConversionLimits()
    result = {}
    with tempfile.TemporaryDirectory() as workdir:
        samples = Path(workdir)
        for label, source, convert in (
            ("webp_to_png", FIXTURES / "sticker.webp", to_png),
            ("webp_animated_to_png", FIXTURES / "sticker_animated.webp", to_png),
            ("ogg_to_wav", FIXTURES / "voice_en.ogg", to_wav),
            ("mp3_to_wav", FIXTURES / "voice_en.mp3", to_wav),
            # H.264 copied, AMR-NB to AAC: what today's phones send.
            ("3gp_h264_to_mp4", _sample_3gp(samples / "a.3gp", "libx264", 640, 480), to_mp4),
            # H.263 re-encoded with libx264: what feature phones send.
            ("3gp_h263_to_mp4", _sample_3gp(samples / "b.3gp", "h263", 352, 288), to_mp4),
            ("wav_to_ogg_opus", _sample_wav(samples / "c.wav"), to_ogg_opus),
        ):
            started = time.process_time()
            for _ in range(repeat):
                await convert(source, Path(workdir, "out"), limits)
            cpu = time.process_time() - started
            result[f"{label}_cpu_s_per_mb"] = cpu / (repeat * source.stat().st_size / MIB)
            result[f"{label}_input_mb"] = source.stat().st_size / MIB
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--voice-runs", type=int, default=5)
    parser.add_argument("--big-mb", type=int, default=100)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--conversions-only", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {"conversion": await conversion_cpu_per_mb()}
    if args.conversions_only:
        print(json.dumps(report, indent=2))
        return
    bridge_env = {
        "BRIDGE_BUFFER_QUIET_S": str(QUIET_S),
        "BRIDGE_BUFFER_MAX_WAIT_S": "5",
        "BRIDGE_CONNECT_MAX_ATTACHMENT_BYTES": str(100 * MIB),
    }
    async with (
        bench_sandbox(
            prefix=PREFIX,
            token=TOKEN,
            sim={"connect_max_attachment_bytes": 100 * MIB},
            bridge_env=bridge_env,
        ) as bench,
        httpx.AsyncClient(base_url=bench.sim_url, timeout=30) as http,
    ):
        attach = await attachment_latencies(http, args.runs)
        voice = await voice_latencies(http, args.voice_runs)
        report["big_document"] = await big_document(http, bench.pid, args.big_mb)

    report["attachment_latency_s"] = {
        "runs": len(attach),
        "p50": percentile(attach, 0.5),
        "p99": percentile(attach, 0.99),
        "max": max(attach),
        "mean": statistics.mean(attach),
    }
    report["voice_transcript_latency_s"] = {
        "runs": len(voice),
        "p50": percentile(voice, 0.5),
        "max": max(voice),
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
