from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from service.bridge.events.eum import parse_eum_event
from service.bridge.events.whatsapp import InboundMessage, MessageType
from service.bridge.text.render import MediaPart, RenderedPart, TextPart, render_burst


def _parse(eum: Any, *wire_messages: dict[str, Any]) -> list[InboundMessage]:
    return list(parse_eum_event(eum.sns_message(*wire_messages)).messages)


def _render(messages: list[InboundMessage], **kwargs: Any) -> list[RenderedPart]:
    options = {"ignore_stickers": False, "ignore_reactions": False, **kwargs}
    return render_burst(messages, **options)


def test_consecutive_texts_become_one_message(eum):
    burst = _parse(
        eum,
        eum.text("Hello", id_="w1"),
        eum.text("I need help", id_="w2"),
        eum.text("with my order", id_="w3"),
        eum.text("P12345", id_="w4"),
    )
    assert _render(burst) == [
        TextPart(
            text="Hello\nI need help\nwith my order\nP12345", message_ids=("w1", "w2", "w3", "w4")
        )
    ]


def test_other_types_keep_their_place(eum):
    burst = _parse(
        eum,
        eum.text("look here", id_="w1"),
        eum.message(
            "location",
            id_="w2",
            location={
                "latitude": 19.4326,
                "longitude": -99.1332,
                "name": "Zócalo",
                "address": "Centro, CDMX",
            },
        ),
        eum.message(
            "contacts",
            id_="w3",
            contacts=[
                {
                    "name": {"formatted_name": "Luis R"},
                    "phones": [{"phone": "+1 555 0100", "type": "CELL"}],
                }
            ],
        ),
        eum.message(
            "interactive",
            id_="w4",
            interactive={
                "type": "list_reply",
                "list_reply": {"id": "lp:Billing", "title": "Billing"},
            },
        ),
        eum.message("button", id_="w5", button={"text": "Confirm", "payload": "C"}),
        eum.message(
            "order",
            id_="w6",
            order={
                "product_items": [
                    {
                        "product_retailer_id": "SKU1",
                        "quantity": 2,
                        "item_price": 9.5,
                        "currency": "MXN",
                    }
                ],
                "text": "asap",
            },
        ),
        eum.message("unsupported", id_="w7", unsupported={"type": "poll"}),
        eum.text("thanks", id_="w8"),
    )
    (part,) = _render(burst)
    assert isinstance(part, TextPart)
    assert part.message_ids == tuple(f"w{i}" for i in range(1, 9))
    expected_lines = [
        "look here",
        "[Location] Zócalo, Centro, CDMX",
        "https://www.google.com/maps/search/?api=1&query=19.432600,-99.133200",
        "[Contact] Luis R: +1 555 0100",
        "[Chose] Billing",
        "[Tapped] Confirm",
        "[Order]",
        "- 2 x SKU1 @ 9.5 MXN",
        "asap",
        (
            "[The customer sent a message type WhatsApp does not pass on (poll); "
            "ask them to send it another way]"
        ),
        "thanks",
    ]
    assert part.text == "\n".join(expected_lines)


def test_media_rendered_as_notes_by_default(eum):
    burst = _parse(
        eum,
        eum.message(
            "image", id_="w1", image={"id": "m1", "mime_type": "image/jpeg", "caption": "roto"}
        ),
        eum.message("audio", id_="w2", audio={"id": "m2", "mime_type": "audio/ogg", "voice": True}),
        eum.message(
            "document",
            id_="w3",
            document={"id": "m3", "mime_type": "application/pdf", "filename": "f.pdf"},
        ),
        eum.message("sticker", id_="w4", sticker={"id": "m4", "mime_type": "image/webp"}),
    )
    (part,) = _render(burst)
    assert isinstance(part, TextPart)
    assert part.text == "[Image] roto\n[Voice note]\n[Document: f.pdf]\n[Sticker]"


def test_media_as_attachments_splits_text_around_them(eum):
    burst = _parse(
        eum,
        eum.text("before", id_="w1"),
        eum.message("image", id_="w2", image={"id": "m1", "mime_type": "image/jpeg"}),
        eum.text("after", id_="w3"),
    )
    parts = _render(burst, media_as_attachments=True)
    assert [type(p) for p in parts] == [TextPart, MediaPart, TextPart]
    media = parts[1]
    assert isinstance(media, MediaPart)
    assert media.message_id == "w2"
    assert media.media_type is MessageType.IMAGE
    assert media.media.id == "m1"
    assert [p.message_ids for p in parts if isinstance(p, TextPart)] == [("w1", "w2"), ("w3",)]
    assert [p.text for p in parts if isinstance(p, TextPart)] == ["before\n[Image]", "after"]


def test_media_first_in_burst_gets_its_label_line_with_caption(eum):
    burst = _parse(
        eum,
        eum.message("document", id_="w1", document={"id": "d", "filename": "f.pdf"}),
        eum.message("sticker", id_="w2", sticker={"id": "s", "mime_type": "image/webp"}),
    )
    parts = _render(burst, media_as_attachments=True)
    assert [type(p) for p in parts] == [TextPart, MediaPart, TextPart, MediaPart]
    assert [p.text for p in parts if isinstance(p, TextPart)] == ["[Document: f.pdf]", "[Sticker]"]


def test_stickers_and_reactions_can_be_ignored(eum):
    burst = _parse(
        eum,
        eum.text("hi", id_="w1"),
        eum.message("sticker", id_="w2", sticker={"id": "m", "mime_type": "image/webp"}),
        eum.message("reaction", id_="w3", reaction={"message_id": "wamid.AGENT", "emoji": "👍"}),
    )
    assert _render(burst, ignore_stickers=True, ignore_reactions=True) == [
        TextPart(text="hi", message_ids=("w1",))
    ]
    (kept,) = _render(burst, known_texts={"wamid.AGENT": "Your order ships tomorrow"})
    assert isinstance(kept, TextPart)
    assert kept.text == 'hi\n[Sticker]\n[Reacted 👍 to "Your order ships tomorrow"]'


def test_reply_context_quotes_known_message_and_removed_reaction(eum):
    long_quote = "a very long agent message " * 5
    burst = _parse(
        eum,
        eum.text("yes please", id_="w1", context={"from": "1555", "id": "wamid.AGENT"}),
        eum.text("and this", id_="w2", context={"from": "1555", "id": "wamid.UNKNOWN"}),
        eum.message("reaction", id_="w3", reaction={"message_id": "wamid.AGENT"}),
    )
    (part,) = _render(burst, known_texts={"wamid.AGENT": long_quote})
    assert isinstance(part, TextPart)
    lines = part.text.split("\n")
    assert lines[0].startswith('> Replying to "a very long agent message')
    assert lines[0].endswith('…"')
    assert len(lines[0]) < 80
    assert lines[1:] == [
        "yes please",
        "> Replying to an earlier message",
        "and this",
        '[Removed a reaction to "' + lines[0].split('"')[1] + '"]',
    ]


def test_referral_and_welcome(eum):
    burst = _parse(
        eum,
        eum.message("request_welcome", id_="w1"),
        eum.text(
            "info?", id_="w2", referral={"headline": "Promo", "source_url": "https://fb.me/x"}
        ),
    )
    (part,) = _render(burst)
    assert isinstance(part, TextPart)
    assert (
        part.text == "[The customer opened the chat]\n[From an ad: Promo — https://fb.me/x]\ninfo?"
    )


def test_long_burst_split_to_limit_with_ids_per_chunk(eum):
    burst = _parse(eum, *(eum.text(f"message number {i:02d}", id_=f"w{i}") for i in range(10)))
    parts = _render(burst, text_limit=40)
    assert all(isinstance(p, TextPart) and len(p.text) <= 40 for p in parts)
    assert "".join(p.text for p in parts if isinstance(p, TextPart)) == "\n".join(
        f"message number {i:02d}" for i in range(10)
    )
    # Each chunk names exactly the messages whose text overlaps it.
    spans = {}
    offset = 0
    for i in range(10):
        length = len(f"message number {i:02d}")
        spans[f"w{i}"] = (offset, offset + length)
        offset += length + 1
    start = 0
    for part in parts:
        assert isinstance(part, TextPart)
        end = start + len(part.text)
        expected = tuple(m for m, (s, e) in spans.items() if s < end and e > start)
        assert part.message_ids == expected
        start = end


def test_byte_limit_applies(eum):
    burst = _parse(eum, eum.text("ñ" * 30, id_="w1"))
    parts = _render(burst, text_limit=1024, byte_limit=20)
    assert all(isinstance(p, TextPart) and len(p.text.encode()) <= 20 for p in parts)
    assert all(isinstance(p, TextPart) and p.message_ids == ("w1",) for p in parts)


@given(
    bodies=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=8),
    limit=st.integers(5, 60),
)
def test_render_never_loses_text_or_ids(bodies, limit):
    wire = [
        {"from": "1", "id": f"w{i}", "timestamp": "1", "type": "text", "text": {"body": body}}
        for i, body in enumerate(bodies)
    ]
    envelope = {
        "context": {
            "MetaPhoneNumberIds": [{"metaPhoneNumberId": "p", "arn": "a:phone-number-id/x"}]
        },
        "whatsAppWebhookEntry": {
            "changes": [
                {
                    "field": "messages",
                    "value": {"metadata": {"phone_number_id": "p"}, "messages": wire},
                }
            ]
        },
    }
    messages = parse_eum_event(envelope).messages
    parts = render_burst(messages, ignore_stickers=False, ignore_reactions=False, text_limit=limit)
    texts = [p.text for p in parts if isinstance(p, TextPart)]
    assert "".join(texts) == "\n".join(bodies)
    assert all(len(t) <= limit for t in texts)
    ids = {mid for p in parts if isinstance(p, TextPart) for mid in p.message_ids}
    assert ids == {f"w{i}" for i in range(len(bodies))}


def test_a_message_sent_before_what_the_agent_has_says_it_arrived_late(eum):
    from service.bridge.events.eum import parse_eum_event  # noqa: PLC0415
    from service.bridge.text.render import render_burst  # noqa: PLC0415

    late = eum.text("my order is P12345", id_="wamid.LATE", timestamp="1772360000")
    on_time = eum.text("thanks", id_="wamid.NOW", timestamp="1772360130")
    messages = list(parse_eum_event(eum.sns_message(late, on_time)).messages)
    [part] = render_burst(
        messages, ignore_stickers=False, ignore_reactions=False, late_before=(1772360100, 0)
    )
    assert part.text == (  # type: ignore[union-attr]
        "⏱ sent 10:13:20 UTC, arrived late:\nmy order is P12345\nthanks"
    )


def test_a_late_message_sharing_its_second_with_what_the_agent_has_still_says_so(eum):
    """WhatsApp's time has one second: chaos campaign a (3 workers) delivered n20 after n21,
    both sent at :45, unmarked. EUM's publication time tells them apart."""
    from service.bridge.events.eum import parse_eum_event  # noqa: PLC0415
    from service.bridge.text.render import render_burst  # noqa: PLC0415

    event = eum.sns_message(eum.text("P12345", id_="wamid.N20", timestamp="1772360045"))
    [message] = parse_eum_event(event).messages
    second, published_ns = message.order_key
    assert published_ns > 0

    def rendered(late_before: tuple[int, int]) -> str:
        [part] = render_burst(
            [message], ignore_stickers=False, ignore_reactions=False, late_before=late_before
        )
        return part.text  # type: ignore[union-attr]

    # The agent has n21: the same second, published a moment later.
    assert rendered((second, published_ns + 1_000_000)).startswith("⏱ sent")
    # The agent's newest is n19, published before it: n20 is on time.
    assert rendered((second, published_ns - 1_000_000)) == "P12345"
    assert rendered((second - 1, 0)) == "P12345"
