import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from service.bridge.whatsapp_format import (
    FENCE_RE,
    WHATSAPP_TEXT_LIMIT,
    format_for_whatsapp,
    markdown_to_whatsapp,
)


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("**bold** and __also bold__", "*bold* and *also bold*"),
        ("*italic* and _italic_", "_italic_ and _italic_"),
        ("~~gone~~", "~gone~"),
        ("use `pip install` now", "use `pip install` now"),
        ("``a `tick` inside``", "`a `tick` inside`"),
        ("see [our site](https://example.com)", "see our site (https://example.com)"),
        ("[https://example.com](https://example.com)", "https://example.com"),
        ("<https://example.com/x>", "https://example.com/x"),
        ("![logo](https://example.com/l.png)", "logo (https://example.com/l.png)"),
        ("# Order status", "*Order status*"),
        ("### **Big** news ###", "*Big news*"),
        ("* one\n+ two\n  - nested", "- one\n- two\n  - nested"),
        ("1. first\n2) second", "1. first\n2. second"),
        ("> quoted *text*", "> quoted _text_"),
        ("price \\*not italic\\* 5\\_000", "price *not italic* 5_000"),
        ("snake_case_name stays", "snake_case_name stays"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("line one  \nline two", "line one\nline two"),
        ("a\r\nb", "a\nb"),
        ("---", "⎯⎯⎯⎯⎯"),
        ("**[link](https://x.io)**", "*link (https://x.io)*"),
    ],
)
def test_inline_and_block_conversions(markdown, expected):
    assert markdown_to_whatsapp(markdown) == expected


def test_code_blocks_are_verbatim_and_drop_language():
    markdown = "Run:\n```python\nx = **not bold**\n# not a heading\n```\ndone"
    assert (
        markdown_to_whatsapp(markdown) == "Run:\n```\nx = **not bold**\n# not a heading\n```\ndone"
    )


def test_unclosed_code_block_is_closed():
    assert markdown_to_whatsapp("```\ncode") == "```\ncode\n```"


def test_plain_text_passes_through_format():
    body = "Hola *no markdown here*"
    assert format_for_whatsapp(body, markdown=False) == [body]
    assert format_for_whatsapp(body, markdown=True) == ["Hola _no markdown here_"]


def test_long_text_split_at_paragraphs():
    paragraph = "word " * 600  # 3,000 characters
    parts = format_for_whatsapp(f"{paragraph}\n\n{paragraph}", markdown=True)
    assert len(parts) == 2
    assert all(len(p) <= WHATSAPP_TEXT_LIMIT for p in parts)


def test_blank_parts_dropped():
    assert format_for_whatsapp("   \n\n  ", markdown=False) == []


def _alnum(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


_markdownish = st.lists(
    st.sampled_from([*"ab1 *_~`#>-+.[]()<>\\!\n", "https://x.io", "é", "9", "```", "**"]),
    max_size=120,
).map("".join)


@given(markdown=st.one_of(st.text(max_size=300), _markdownish))
def test_letters_and_digits_survive_in_order(markdown):
    # Fence language tags are deliberately dropped; everything else must survive.
    lines = markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    assume(not any((m := FENCE_RE.match(line)) and m["info"] for line in lines))
    assert _alnum(markdown_to_whatsapp(markdown)) == _alnum(markdown)


@given(markdown=st.text(max_size=9000), limit=st.sampled_from([WHATSAPP_TEXT_LIMIT, 50]))
def test_parts_within_limit_and_nonblank(markdown, limit):
    parts = format_for_whatsapp(markdown, markdown=True, limit=limit)
    assert all(len(p) <= limit and p.strip() for p in parts)
    converted = markdown_to_whatsapp(markdown)
    assert re.sub(r"\s", "", "".join(parts)) == re.sub(r"\s", "", converted)
