"""Which customer files Connect takes, under what name, and what is converted first."""

from __future__ import annotations

import pytest

from service.bridge.policy.attachments import (
    Attach,
    AttachmentRules,
    Conversion,
    Refuse,
    file_name,
    normalize_extensions,
    plan,
    too_large,
)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
RULES = AttachmentRules()


def _plan(
    kind: str,
    mime: str,
    filename: str | None = None,
    *,
    voice: bool = False,
    rules: AttachmentRules = RULES,
) -> Attach | Refuse:
    return plan(kind=kind, mime_type=mime, filename=filename, voice=voice, rules=rules)


@pytest.mark.parametrize(
    ("kind", "mime", "filename", "expected"),
    [
        ("image", "image/jpeg", None, Attach("image.jpg", "image/jpeg")),
        ("image", "image/png", None, Attach("image.png", "image/png")),
        ("video", "video/mp4", None, Attach("video.mp4", "video/mp4")),
        (
            "document",
            "application/pdf",
            "Factura 12.pdf",
            Attach("Factura 12.pdf", "application/pdf"),
        ),
        ("document", DOCX, "order.DOCX", Attach("order.docx", DOCX)),
        ("document", "text/plain", "notes", Attach("notes.txt", "text/plain")),
        ("sticker", "image/webp", None, Attach("sticker.png", "image/png", Conversion.PNG)),
        ("audio", "audio/ogg; codecs=opus", None, Attach("audio.wav", "audio/wav", Conversion.WAV)),
        ("audio", "audio/mpeg", None, Attach("audio.wav", "audio/wav", Conversion.WAV)),
        ("audio", "audio/amr", None, Attach("audio.wav", "audio/wav", Conversion.WAV)),
        ("audio", "audio/mp4", None, Attach("audio.wav", "audio/wav", Conversion.WAV)),
        ("video", "video/3gpp", None, Attach("video.mp4", "video/mp4", Conversion.MP4)),
        ("document", "video/3gpp", "visit.3gp", Attach("visit.mp4", "video/mp4", Conversion.MP4)),
    ],
)
def test_types_connect_takes_go_as_they_are_and_the_others_are_converted(
    kind, mime, filename, expected
):
    assert _plan(kind, mime, filename) == expected


def test_a_voice_note_is_named_as_one():
    assert _plan("audio", "audio/ogg", voice=True) == Attach(
        "voice-note.wav", "audio/wav", Conversion.WAV
    )


def test_an_extension_the_operator_allowed_goes_unconverted():
    rules = AttachmentRules(extra_extensions=normalize_extensions(" ogg, .WEBP "))
    assert _plan("audio", "audio/ogg", voice=True, rules=rules) == Attach(
        "voice-note.ogg", "audio/ogg"
    )
    assert _plan("sticker", "image/webp", rules=rules) == Attach("sticker.webp", "image/webp")
    with_3gp = AttachmentRules(extra_extensions=normalize_extensions(".3gp"))
    assert _plan("video", "video/3gpp", rules=with_3gp) == Attach("video.3gp", "video/3gpp")


def test_a_type_neither_taken_nor_convertible_is_refused_in_words():
    refused = _plan("document", "application/zip", "all.zip")
    assert isinstance(refused, Refuse)
    assert ".zip" in refused.reason


def test_a_hostile_file_name_is_reduced_to_a_plain_one():
    name = file_name(
        kind="document", mime_type="application/pdf", filename="../../etc/pa\x00ss.pdf", voice=False
    )
    assert name == "pa_ss.pdf"
    assert file_name(kind="document", mime_type="application/pdf", filename="...", voice=False) == (
        "document.pdf"
    )
    assert (
        len(file_name(kind="document", mime_type=None, filename="x" * 500 + ".pdf", voice=False))
        == 120
    )


def test_size_limit_is_the_instance_setting():
    assert too_large(20 * 1024 * 1024, RULES) is None
    refused = too_large(20 * 1024 * 1024 + 1, RULES)
    assert refused is not None
    assert "20.0 MB" in refused.reason
    assert too_large(50 * 1024 * 1024, AttachmentRules(max_bytes=100 * 1024 * 1024)) is None
