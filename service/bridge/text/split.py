"""Lossless splitting of long texts into chunks that fit a channel's size limit.

Both directions need it: Connect rejects long chat messages (reference §3.4) and
WhatsApp caps a text body at 4,096 characters (reference §4). The chunks always
concatenate back to the input, so nothing is lost or reordered.
"""

import unicodedata

_ZWJ = "\u200d"
_KEYCAP = "\u20e3"

# Boundaries tried in order of preference; each must leave the chunk at least half
# full, so that a stray early newline does not produce a tiny chunk.
_PREFERRED_SEPARATORS = ("\n\n", "\n")


# Code-point ranges that attach to the preceding character to form one glyph.
_EXTENDER_RANGES: tuple[tuple[int, int], ...] = (
    (0xFE00, 0xFE0F),  # variation selectors (text/emoji presentation)
    (0xE0100, 0xE01EF),  # variation selectors supplement
    (0x1F3FB, 0x1F3FF),  # skin-tone modifiers
    (0xE0020, 0xE007F),  # tag characters (subdivision flags)
)
_REGIONAL_INDICATORS = (0x1F1E6, 0x1F1FF)


def _is_extender(char: str) -> bool:
    """True if `char` attaches to the character before it (same visible glyph)."""
    code = ord(char)
    return (
        unicodedata.combining(char) != 0
        or unicodedata.category(char) in {"Mn", "Me", "Mc"}
        or char in {_ZWJ, _KEYCAP}
        or any(low <= code <= high for low, high in _EXTENDER_RANGES)
    )


def _is_regional_indicator(char: str) -> bool:
    low, high = _REGIONAL_INDICATORS
    return low <= ord(char) <= high


def _safe_cut(text: str, cut: int) -> bool:
    """True if cutting `text` before index `cut` does not break a visible character."""
    if cut <= 0 or cut >= len(text):
        return True
    before, after = text[cut - 1], text[cut]
    if _is_extender(after) or before == _ZWJ:
        return False
    if _is_regional_indicator(before) and _is_regional_indicator(after):
        # Flags are pairs of regional indicators: only cut between pairs.
        run = 0
        index = cut - 1
        while index >= 0 and _is_regional_indicator(text[index]):
            run += 1
            index -= 1
        return run % 2 == 0
    return True


def _window_end(text: str, start: int, limit: int, byte_limit: int | None) -> int:
    """Largest end such that text[start:end] respects both limits."""
    end = min(len(text), start + limit)
    if byte_limit is None:
        return end
    used = 0
    for index in range(start, end):
        used += len(text[index].encode("utf-8", "surrogatepass"))
        if used > byte_limit:
            return index
    return end


def _best_cut(text: str, start: int, end: int) -> int:
    window = text[start:end]
    half = len(window) // 2
    for separator in _PREFERRED_SEPARATORS:
        position = window.rfind(separator)
        if position >= 0 and position + len(separator) >= half:
            return start + position + len(separator)
    for cut in range(end, start, -1):
        if text[cut - 1].isspace() and not text[cut].isspace():
            return cut
    for cut in range(end, start, -1):
        if _safe_cut(text, cut):
            return cut
    # One visible character longer than the limit: cutting it is unavoidable.
    return end


def split_text(text: str, limit: int, *, byte_limit: int | None = None) -> list[str]:
    """Split `text` into chunks of at most `limit` characters (and `byte_limit` UTF-8 bytes).

    Cuts prefer paragraph breaks, then line breaks, then spaces, and avoid splitting an
    emoji or accented character; `"".join(result) == text` always holds. An empty text
    gives an empty list.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1 character")
    if byte_limit is not None and byte_limit < 4:  # noqa: PLR2004  one UTF-8 code point needs up to 4 bytes
        raise ValueError("byte_limit must be at least 4 bytes")
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = _window_end(text, start, limit, byte_limit)
        cut = end if end == len(text) else _best_cut(text, start, end)
        chunks.append(text[start:cut])
        start = cut
    return chunks
