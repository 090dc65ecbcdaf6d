import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.bridge.text.split import split_text

_CLUSTERS = [
    *"ab c\n\t.",
    "é",
    "e\u0301",
    "👍🏽",
    "👨\u200d👩\u200d👧",
    "🇲🇽",
    "1\ufe0f\u20e3",
    "漢",
]
_texts = st.lists(st.sampled_from(_CLUSTERS)).map("".join)


@given(text=st.text(), limit=st.integers(min_value=1, max_value=50))
def test_split_is_lossless_and_within_limit(text, limit):
    chunks = split_text(text, limit)
    assert "".join(chunks) == text
    assert all(1 <= len(chunk) <= limit for chunk in chunks)


@given(text=_texts, limit=st.integers(min_value=1, max_value=40), byte_limit=st.integers(4, 60))
def test_split_respects_byte_limit(text, limit, byte_limit):
    chunks = split_text(text, limit, byte_limit=byte_limit)
    assert "".join(chunks) == text
    assert all(len(c) <= limit and len(c.encode()) <= byte_limit for c in chunks)


@given(text=_texts, limit=st.integers(min_value=12, max_value=40))
def test_split_never_cuts_inside_an_emoji_when_the_limit_allows(text, limit):
    # Every cluster in the alphabet is at most 8 code points long, far below the limit.
    for chunk in split_text(text, limit)[1:]:
        first = chunk[0]
        assert first not in {"\u0301", "\u200d", "\ufe0f", "\u20e3"}
        assert not 0x1F3FB <= ord(first) <= 0x1F3FF
    for chunk in split_text(text, limit)[:-1]:
        assert chunk[-1] != "\u200d"


def test_flags_are_cut_between_pairs():
    text = "🇲🇽🇪🇸🇧🇷"  # three flags, two regional indicators each
    chunks = split_text(text, 3)
    assert chunks == ["🇲🇽", "🇪🇸", "🇧🇷"]


def test_prefers_paragraph_then_line_then_space():
    paragraph = "first paragraph line\n\nsecond one goes on"
    assert split_text(paragraph, 30) == ["first paragraph line\n\n", "second one goes on"]
    lines = "alpha beta gamma\ndelta epsilon"
    assert split_text(lines, 20) == ["alpha beta gamma\n", "delta epsilon"]
    words = "alpha beta gamma delta"
    assert split_text(words, 12) == ["alpha beta ", "gamma delta"]


def test_early_paragraph_break_does_not_make_a_tiny_chunk():
    text = "ab\n\n" + "word " * 10
    first = split_text(text, 30)[0]
    assert len(first) > 15


def test_word_longer_than_limit_is_cut_hard():
    assert split_text("abcdefghij", 4) == ["abcd", "efgh", "ij"]


def test_short_text_and_empty_text():
    assert split_text("hola", 1024) == ["hola"]
    assert split_text("", 10) == []


@pytest.mark.parametrize(("limit", "byte_limit"), [(0, None), (10, 3)])
def test_rejects_impossible_limits(limit, byte_limit):
    with pytest.raises(ValueError, match="at least"):
        split_text("abc", limit, byte_limit=byte_limit)
