"""Regenerate the media fixtures in tests/fixtures/media/ (commit the result).

Needs, at fixture-making time only, Debian's `espeak-ng`, `ffmpeg` and `sox`; the tests
read the committed files and need none of them. The voice notes are one known sentence
(SENTENCE, also in the folder's README) spoken by espeak-ng and encoded as WhatsApp sends
audio: Ogg/Opus 16 kHz mono for a voice note, MP3, AMR-NB (8 kHz) and M4A/AAC for other
audio. The images, stickers, documents and videos are small synthetic files of each type
a customer can send.

Run: python scripts/make_media_fixtures.py
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Final

OUT: Final = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "media"
SENTENCE: Final = "hello I would like to check the status of my order please"
# espeak-ng's female US variant at a calm rate: PocketSphinx recognises it best of the
# voices tried, and a voice note is a person talking slowly into a phone.
VOICE: Final = ("-v", "en-us+f2", "-s", "140")
LIMIT_BYTES: Final = 200 * 1024
TOTAL_LIMIT_BYTES: Final = 2 * 1024 * 1024
_FFMPEG: Final = ("ffmpeg", "-v", "error", "-y")


def _run(*args: str) -> None:
    subprocess.run(args, check=True)  # noqa: S603  our own fixed commands


def _speech_wav(work: Path) -> Path:
    source = work / "speech.wav"
    _run("espeak-ng", *VOICE, "-w", str(source), SENTENCE)
    return source


def _audio(speech: Path) -> None:
    mono16k = ("-ac", "1", "-ar", "16000")
    _run(*_FFMPEG, "-i", str(speech), *mono16k, "-c:a", "libopus", "-b:a", "24k",
         "-application", "voip", str(OUT / "voice_en.ogg"))  # fmt: skip
    _run(*_FFMPEG, "-i", str(speech), *mono16k, "-c:a", "libmp3lame", "-b:a", "32k",
         str(OUT / "voice_en.mp3"))  # fmt: skip
    _run(*_FFMPEG, "-i", str(speech), *mono16k, "-c:a", "aac", "-b:a", "32k",
         str(OUT / "voice_en.m4a"))  # fmt: skip
    # FFmpeg has no AMR encoder here; sox writes AMR-NB (8 kHz, as phones record it).
    _run("sox", str(speech), "-r", "8000", "-c", "1", "-t", "amr-nb", str(OUT / "voice_en.amr"))
    _run(*_FFMPEG, "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "3",
         "-c:a", "libopus", "-b:a", "16k", str(OUT / "silence.ogg"))  # fmt: skip


def _images() -> None:
    pattern = ("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=1")
    _run(*_FFMPEG, *pattern, "-frames:v", "1", "-q:v", "6", str(OUT / "photo.jpg"))
    _run(*_FFMPEG, *pattern, "-frames:v", "1", str(OUT / "screenshot.png"))
    sticker = ("-f", "lavfi", "-i", "testsrc=size=512x512:rate=10")
    _run(*_FFMPEG, *sticker, "-frames:v", "1", "-c:v", "libwebp", "-quality", "40",
         str(OUT / "sticker.webp"))  # fmt: skip
    _run(*_FFMPEG, *sticker, "-t", "1", "-c:v", "libwebp_anim", "-quality", "20",
         "-loop", "0", str(OUT / "sticker_animated.webp"))  # fmt: skip


def _videos(speech: Path) -> None:
    picture = ("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15")
    _run(*_FFMPEG, *picture, "-i", str(speech), "-shortest", "-c:v", "libx264",
         "-preset", "veryfast", "-crf", "35", "-pix_fmt", "yuv420p", "-c:a", "aac",
         "-b:a", "32k", "-ac", "1", "-movflags", "+faststart", str(OUT / "clip.mp4"))  # fmt: skip
    small = ("-f", "lavfi", "-i", "testsrc2=size=176x144:rate=10")
    _run(*_FFMPEG, *small, "-i", str(speech), "-shortest", "-c:v", "h263", "-q:v", "20",
         "-c:a", "aac", "-b:a", "24k", "-ac", "1", "-ar", "16000",
         str(OUT / "clip.3gp"))  # fmt: skip


def _pdf() -> bytes:
    """A one-page PDF with a line of text, its cross-reference table computed."""
    stream = b"BT /F1 18 Tf 72 720 Td (Invoice P12345 - sandbox fixture) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
        ),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


_DOCX_PARTS: Final = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/officeDocument" Target="word/document.xml"/>'
        "</Relationships>"
    ),
    "word/document.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>Order P12345 - sandbox fixture</w:t></w:r></w:p></w:body>"
        "</w:document>"
    ),
}


def _docx(path: Path) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in _DOCX_PARTS.items():
            # A fixed date keeps the file byte-identical across runs.
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), text)


def main() -> None:
    missing = [tool for tool in ("espeak-ng", "ffmpeg", "sox") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"install {' '.join(missing)} (Debian packages) to make the fixtures")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        speech = _speech_wav(Path(tmp))
        _audio(speech)
        _videos(speech)
    _images()
    (OUT / "invoice.pdf").write_bytes(_pdf())
    _docx(OUT / "order.docx")
    sizes = {path.name: path.stat().st_size for path in sorted(OUT.iterdir())}
    too_big = {name: size for name, size in sizes.items() if size > LIMIT_BYTES}
    if too_big or sum(sizes.values()) > TOTAL_LIMIT_BYTES:
        raise SystemExit(f"fixtures too large: {too_big or sum(sizes.values())}")
    for name, size in sizes.items():
        print(f"{size:>8}  {name}")  # noqa: T201  a maintenance script reports what it made


if __name__ == "__main__":
    main()
