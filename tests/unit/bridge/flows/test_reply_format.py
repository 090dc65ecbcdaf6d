"""A very long agent message is converted off the event loop, every letter kept."""

import threading

import pytest

from service.bridge.flows import reply
from service.bridge.flows.reply import formatted_for_whatsapp
from service.bridge.text.markdown import WHATSAPP_TEXT_LIMIT, format_for_whatsapp

_PARAGRAPH = (
    "**Order 12345** is _on its way_ with `tracking` [here](https://example.com/t) "
    "and ~~old~~ news.\n- one *item*\n- two __items__\n\n"
)


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The thread each conversion ran in."""
    seen: list[int] = []

    def recording(content: str, *, markdown: bool) -> list[str]:
        seen.append(threading.get_ident())
        return format_for_whatsapp(content, markdown=markdown)

    monkeypatch.setattr(reply, "format_for_whatsapp", recording)
    return seen


async def test_a_64000_character_markdown_message_is_converted_off_the_loop(threads):
    content = (_PARAGRAPH * (64_000 // len(_PARAGRAPH) + 1))[:64_000]
    parts = await formatted_for_whatsapp(content, markdown=True)
    assert threads
    assert threads[0] != threading.get_ident()
    assert all(len(p) <= WHATSAPP_TEXT_LIMIT for p in parts)
    assert "*Order 12345*" in parts[0]


async def test_a_short_message_is_converted_in_place(threads):
    parts = await formatted_for_whatsapp("**hi**", markdown=True)
    assert parts == ["*hi*"]
    assert threads == [threading.get_ident()]


async def test_beyond_the_cap_the_text_is_sent_as_written(threads):
    content = "*a" * 40_000  # 80,000 characters: more than any agent could type
    parts = await formatted_for_whatsapp(content, markdown=True)
    assert "".join(parts) == content
