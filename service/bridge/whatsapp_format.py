"""Connect `text/markdown` → WhatsApp's own formatting, split to WhatsApp's text limit.

WhatsApp knows `*bold*`, `_italic_`, `~strike~`, `` `inline code` ``, ```` ```blocks``` ````,
`- `/`* ` bullets, `1. ` numbers and `> ` quotes; it has no links, headings or escapes.
The conversion is line-oriented and conservative: every letter and digit of the input
reaches the output in order (fence language tags excepted), so a construct we do not
understand is shown as written rather than lost.
"""

import re
from typing import Final

from service.bridge.text_split import split_text

WHATSAPP_TEXT_LIMIT: Final = 4096

FENCE_RE: Final = re.compile(r"^(?P<indent>\s{0,3})(?P<fence>```+|~~~+)\s*(?P<info>[^\s`]*)\s*$")
_HEADING_RE: Final = re.compile(r"^\s{0,3}#{1,6}\s+(?P<text>.*?)(?:\s+#+)?\s*$")
_BULLET_RE: Final = re.compile(r"^(?P<indent>\s*)[*+-]\s+(?P<text>.*)$")
_ORDERED_RE: Final = re.compile(r"^(?P<indent>\s*)(?P<number>\d{1,9})[.)]\s+(?P<text>.*)$")
_QUOTE_RE: Final = re.compile(r"^\s{0,3}>\s?(?P<text>.*)$")
_RULE_RE: Final = re.compile(r"^\s{0,3}(?:(?:-\s*){3,}|(?:\*\s*){3,}|(?:_\s*){3,})$")

# One alternation scanned left to right: the first construct starting at a position
# wins, which gives code spans and escapes priority over emphasis, as in CommonMark.
_INLINE_RE: Final = re.compile(
    r"""
    \\(?P<escaped>[\\`*_{}\[\]()#+\-.!~>|<])
  | (?P<ticks>`+)(?P<code>.+?)(?P=ticks)
  | !\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)\)
  | \[(?P<label>[^\]]+)\]\((?P<href>[^)\s]+)\)
  | <(?P<autolink>(?:https?|mailto):[^>\s]+)>
  | \*\*(?P<bold>(?=\S).+?(?<=\S))\*\*
  | __(?P<bold_u>(?=\S).+?(?<=\S))__
  | ~~(?P<strike>(?=\S).+?(?<=\S))~~
  | \*(?P<italic>(?=[^\s*]).*?(?<=[^\s*]))\*
  | (?<![A-Za-z0-9])_(?P<italic_u>(?=[^\s_]).*?(?<=[^\s_]))_(?![A-Za-z0-9])
    """,
    re.VERBOSE,
)


def _link(label: str, target: str) -> str:
    plain_target = target.removeprefix("mailto:")
    if label.strip() in {target, plain_target}:
        return target
    return f"{convert_inline(label)} ({target})"


def _inline_match(match: re.Match[str]) -> str:  # noqa: PLR0911  one return per construct reads clearest
    groups = match.groupdict()
    if groups["escaped"] is not None:
        return groups["escaped"]
    if groups["code"] is not None:
        # WhatsApp inline code uses a single backtick on each side.
        return f"`{groups['code']}`"
    if groups["src"] is not None:
        return _link(groups["alt"] or groups["src"], groups["src"])
    if groups["href"] is not None:
        return _link(groups["label"], groups["href"])
    if groups["autolink"] is not None:
        return groups["autolink"]
    bold = groups["bold"] if groups["bold"] is not None else groups["bold_u"]
    if bold is not None:
        return f"*{convert_inline(bold)}*"
    if groups["strike"] is not None:
        return f"~{convert_inline(groups['strike'])}~"
    italic = groups["italic"] if groups["italic"] is not None else groups["italic_u"]
    return f"_{convert_inline(italic or '')}_"


def convert_inline(text: str) -> str:
    """Inline Markdown (emphasis, code, links, escapes) → WhatsApp."""
    return _INLINE_RE.sub(_inline_match, text)


def _strip_emphasis(text: str) -> str:
    # Inside a bold heading, nested bold markers would close the bold early.
    return text.replace("*", "")


def _convert_line(line: str) -> str:
    line = line.rstrip()
    if _RULE_RE.match(line):
        return "⎯⎯⎯⎯⎯"
    if heading := _HEADING_RE.match(line):
        text = _strip_emphasis(convert_inline(heading["text"]))
        return f"*{text}*" if text.strip() else text
    if bullet := _BULLET_RE.match(line):
        return f"{bullet['indent']}- {convert_inline(bullet['text'])}"
    if ordered := _ORDERED_RE.match(line):
        return f"{ordered['indent']}{ordered['number']}. {convert_inline(ordered['text'])}"
    if quote := _QUOTE_RE.match(line):
        return f"> {convert_inline(quote['text'])}"
    return convert_inline(line)


def _closes(line: re.Match[str], fence: str) -> bool:
    # A closing fence has no info string and is at least as long as the opener.
    return not line["info"] and line["fence"][0] == fence[0] and len(line["fence"]) >= len(fence)


def markdown_to_whatsapp(markdown: str) -> str:
    """Convert Connect Markdown to WhatsApp-formatted text."""
    out: list[str] = []
    fence: str | None = None
    for line in markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        opener = FENCE_RE.match(line)
        if fence is None and opener is not None:
            fence = opener["fence"]
            out.append("```")
        elif fence is not None and opener is not None and _closes(opener, fence):
            fence = None
            out.append("```")
        elif fence is not None:
            out.append(line)  # code is shown verbatim
        else:
            out.append(_convert_line(line))
    if fence is not None:
        out.append("```")  # an unclosed block would leave WhatsApp formatting dangling
    return "\n".join(out).strip("\n")


def split_for_whatsapp(text: str, limit: int = WHATSAPP_TEXT_LIMIT) -> list[str]:
    """Split already formatted text into WhatsApp text bodies (none empty or blank)."""
    return [part for part in split_text(text, limit) if part.strip()]


def format_for_whatsapp(
    content: str, *, markdown: bool, limit: int = WHATSAPP_TEXT_LIMIT
) -> list[str]:
    """Connect message content → WhatsApp text bodies, each within `limit` characters."""
    text = markdown_to_whatsapp(content) if markdown else content
    return split_for_whatsapp(text, limit)
