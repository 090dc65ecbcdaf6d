"""The words an agent reads when WhatsApp could not deliver, and media routing."""

from service.bridge.adapters.media import media_kind
from service.bridge.flows.status import NOTE_PREFIX, failure_note


def test_window_closed_tells_the_agent_the_customer_must_write_first():
    note = failure_note(131047, "Re-engagement message")
    assert note.startswith(NOTE_PREFIX)
    assert "24 hours" in note
    assert "template" in note


def test_undeliverable_says_so_in_plain_words():
    assert "cannot deliver" in failure_note(131026, None)


def test_other_codes_show_their_title_and_code():
    assert failure_note(131051, "Unsupported message type") == (
        NOTE_PREFIX + "Unsupported message type (code 131051)."
    )


def test_media_types_whatsapp_refuses_travel_as_linked_documents():
    assert media_kind("image/png").whatsapp_type == "image"
    assert media_kind("audio/mpeg").whatsapp_type == "audio"
    assert media_kind("application/pdf").whatsapp_type == "document"
    assert not media_kind("application/pdf").by_link
    for refused in ("audio/wav", "image/heic", "video/quicktime", None):
        kind = media_kind(refused)
        assert (kind.whatsapp_type, kind.by_link) == ("document", True)
