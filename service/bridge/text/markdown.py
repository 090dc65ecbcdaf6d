"""Connect `text/markdown` → WhatsApp's own formatting, split to WhatsApp's text limit.

WhatsApp knows `*bold*`, `_italic_`, `~strike~`, `` `inline code` ``, ```` ```blocks``` ````,
`- ` bullets, `1. ` numbers and `> ` quotes; it has no links, headings, escapes, tables or HTML.
markdown-it-py parses the Markdown as CommonMark (plus `~~strike~~`) in linear time, and we
render its token stream: block tokens become lines, inline tokens become WhatsApp markers.
Every letter and digit of the input reaches the output in order (fence language tags
excepted): entities stay undecoded, raw HTML and link reference definitions stay text, links
show their address and ordered lists keep the agent's numbers, so a construct WhatsApp cannot
show is written out rather than lost.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Final, Protocol

from markdown_it import MarkdownIt, helpers
from markdown_it.common.utils import stripEscape
from markdown_it.token import Token

from service.bridge.text.split import split_text

WHATSAPP_TEXT_LIMIT: Final = 4096

_RULE: Final = "⎯⎯⎯⎯⎯"
_FENCE: Final = "```"
_MARKERS: Final = {"strong": "*", "em": "_", "s": "~"}


# ---------------------------------------------------------------- parser


class _Parsed(Protocol):
    """What markdown-it's link helpers return: where parsing stopped and the text found."""

    ok: bool
    pos: int
    str: str


def _destination_as_written(string: str, pos: int, maximum: int) -> _Parsed:
    parsed: _Parsed = helpers.parseLinkDestination(string, pos, maximum)
    if parsed.ok:
        written = string[pos : parsed.pos]
        if written.startswith("<"):
            written = written[1:-1]
        parsed.str = stripEscape(written)
    return parsed


def _title_as_written(string: str, start: int, maximum: int, prev_state: Any = None) -> _Parsed:
    parsed: _Parsed = helpers.parseLinkTitle(string, start, maximum, prev_state)
    # A `prev_state` continues a reference definition's title; those are not parsed here.
    if parsed.ok and prev_state is None:
        # The slice drops the quotes (or parentheses) around the title.
        parsed.str = stripEscape(string[start + 1 : parsed.pos - 1])
    return parsed


def _link_helpers() -> ModuleType:
    """markdown-it's link helpers, except that destinations and titles keep their entities.

    The stock helpers decode `&amp;` in `[a](x?p=1&amp;q=2)`, which would drop letters;
    markdown-it looks them up on the parser instance, which is how it lets them be replaced.
    """
    module = ModuleType(f"{__name__}.link_helpers")
    vars(module).update(
        parseLinkLabel=helpers.parseLinkLabel,
        parseLinkDestination=_destination_as_written,
        parseLinkTitle=_title_as_written,
    )
    return module


class _LosslessMarkdownIt(MarkdownIt):
    """CommonMark + strikethrough, configured so that no letter of the source is dropped.

    pyproject asks for markdown-it-py 4.1 or later: before it, a run like `_a_a_a…` took
    quadratic time (9 s for 80,000 characters), the very stall this module must not cause.
    """

    def __init__(self) -> None:
        super().__init__("commonmark", {"html": False})
        self.enable("strikethrough")
        # `entity` would turn `&amp;` into `&`; `reference` would make `[a]: https://x` vanish
        # (as text the reader still sees the address); the HTML rules do nothing once `html`
        # is off, so skipping them only saves time.
        self.disable(["entity", "reference", "html_block", "html_inline"])
        self.helpers = _link_helpers()

    def normalizeLink(self, url: str) -> str:  # noqa: N802  markdown-it's name
        # Percent-encoding and punycode would change the address the agent wrote.
        return url

    def normalizeLinkText(self, link: str) -> str:  # noqa: N802  markdown-it's name
        return link


_PARSER: Final = _LosslessMarkdownIt()


def _too_deep(tokens: Sequence[Token]) -> bool:
    # markdown-it silently drops what is nested deeper than maxNesting blocks.
    limit = _PARSER.options.maxNesting - 1
    return any(token.nesting == 1 and token.level >= limit for token in tokens)


# ---------------------------------------------------------------- inline


def _attr(token: Token, name: str) -> str:
    value = token.attrGet(name)
    return "" if value is None else str(value)


def _target(href: str, title: str) -> str:
    """`url "title"`, or whichever of the two there is."""
    parts = [href] if href else []
    if title:
        parts.append(f'"{title}"')
    return " ".join(parts)


def _link(text: str, plain: str, href: str, title: str) -> str:
    """A link as `label (url)`; WhatsApp makes the address clickable by itself."""
    if plain.strip() in {href, href.removeprefix("mailto:")}:
        # The label is the address (an autolink or `[url](url)`): show it once, as written.
        text, href = plain, ""
    target = _target(href, title)
    if not target:
        return text
    if not text.strip():
        return target
    return f"{text} ({target})"


@dataclass
class _Span:
    """Output being written: the whole inline run, or the label of a link still open."""

    formatted: list[str] = field(default_factory=list)
    plain: list[str] = field(default_factory=list)
    link: Token | None = None


class _InlineWriter:
    """Renders inline tokens (emphasis, code, links, breaks) as WhatsApp text."""

    def __init__(self, open_markers: Counter[str], line_break: str) -> None:
        # A marker is written only when the outermost span of its kind opens or closes:
        # WhatsApp cannot nest bold in bold, and a heading is bold already.
        self._open = open_markers
        self._line_break = line_break
        self._spans = [_Span()]

    def add(self, token: Token) -> None:
        if token.tag in _MARKERS and token.nesting != 0:
            self._mark(token.tag, token.nesting)
        elif token.type == "link_open":
            self._spans.append(_Span(link=token))
        elif token.type == "link_close":
            self._close_link()
        elif token.type == "code_inline":
            # WhatsApp inline code uses a single backtick on each side.
            self._write(f"`{token.content}`", token.content)
        elif token.type in {"softbreak", "hardbreak"}:
            self._write(self._line_break)
        elif token.type == "image":
            self._write_image(token)
        else:
            self._write(token.content)

    def text(self) -> str:
        return "".join(self._spans[0].formatted)

    def plain(self) -> str:
        return "".join(self._spans[0].plain)

    def _write(self, formatted: str, plain: str | None = None) -> None:
        span = self._spans[-1]
        span.formatted.append(formatted)
        span.plain.append(formatted if plain is None else plain)

    def _mark(self, tag: str, nesting: int) -> None:
        before = self._open[tag]
        self._open[tag] = before + nesting
        if (nesting > 0 and before == 0) or (nesting < 0 and before == 1):
            self._spans[-1].formatted.append(_MARKERS[tag])

    def _close_link(self) -> None:
        if len(self._spans) == 1:
            return  # a close without an open: nothing to finish
        span = self._spans.pop()
        href = _attr(span.link, "href") if span.link else ""
        title = _attr(span.link, "title") if span.link else ""
        text = _link("".join(span.formatted), "".join(span.plain), href, title)
        self._write(text)

    def _write_image(self, token: Token) -> None:
        alt = _InlineWriter(self._open.copy(), self._line_break)
        for child in token.children or []:
            alt.add(child)
        self._write(_link(alt.text(), alt.plain(), _attr(token, "src"), _attr(token, "title")))


def _render_inline(token: Token, *, heading: bool = False) -> str:
    # A line break inside a bold heading would end WhatsApp's bold; a space keeps it going.
    writer = _InlineWriter(Counter(strong=int(heading)), " " if heading else "\n")
    for child in token.children or []:
        writer.add(child)
    return writer.text()


# ---------------------------------------------------------------- blocks


@dataclass(frozen=True)
class _Block:
    """Rendered lines of one block and the source lines it came from."""

    lines: list[str]
    start: int
    end: int  # first source line after the block's content


def _source_lines(token: Token) -> tuple[int, int]:
    return (token.map[0], token.map[1]) if token.map else (0, 0)


def _join(blocks: Sequence[_Block]) -> list[str]:
    """Blocks one after another, with a blank line where the source had one or more."""
    lines: list[str] = []
    previous: _Block | None = None
    for block in blocks:
        if previous is not None and block.start > previous.end:
            lines.append("")
        lines.extend(block.lines)
        previous = block
    return lines


def _content_lines(content: str) -> list[str]:
    body = content.removesuffix("\n")
    return body.split("\n") if body else []


def _code(content: str) -> list[str]:
    return [_FENCE, *_content_lines(content), _FENCE]


def _paragraph(inline: Token) -> list[str]:
    # A paragraph whose first line is a lone backslash opens with a hard break.
    return _content_lines(_render_inline(inline).strip("\n"))


def _heading(inline: Token) -> list[str]:
    text = _render_inline(inline, heading=True)
    return [f"*{text}*"] if text.strip() else []


def _quoted(lines: list[str]) -> list[str]:
    # WhatsApp shows a lone `>` as a character, so blank lines stay blank.
    return [f"> {line}" if line else "" for line in lines]


def _item(marker: str, lines: list[str]) -> list[str]:
    if not lines:
        return [marker]
    first, *rest = lines
    return [f"{marker} {first}", *(f"  {line}" if line else "" for line in rest)]


def _closing_indices(tokens: Sequence[Token]) -> dict[int, int]:
    """Index of each opening token → index of its closing token."""
    closing: dict[int, int] = {}
    opened: list[int] = []
    for index, token in enumerate(tokens):
        if token.nesting == 1:
            opened.append(index)
        elif token.nesting == -1 and opened:
            closing[opened.pop()] = index
    return closing


class _BlockRenderer:
    """Renders the block tokens between two indices, recursing into quotes and lists."""

    def __init__(self, tokens: Sequence[Token]) -> None:
        self._tokens = tokens
        self._closing = _closing_indices(tokens)

    def render(self) -> str:
        return "\n".join(_join(self._blocks(0, len(self._tokens))))

    def _blocks(self, start: int, stop: int) -> list[_Block]:
        blocks: list[_Block] = []
        index = start
        while index < stop:
            end = self._closing.get(index, index)
            block = self._block(index, end)
            if block.lines:
                blocks.append(block)
            index = end + 1
        return blocks

    def _block(self, index: int, end: int) -> _Block:
        token = self._tokens[index]
        start, stop = _source_lines(token)
        if token.type == "paragraph_open":
            return _Block(_paragraph(self._tokens[index + 1]), start, stop)
        if token.type == "heading_open":
            return _Block(_heading(self._tokens[index + 1]), start, stop)
        if token.type in {"fence", "code_block"}:
            return _Block(_code(token.content), start, stop)
        if token.type == "hr":
            return _Block([_RULE], start, stop)
        if token.nesting == 1:
            return self._container(token, self._blocks(index + 1, end), stop)
        # Anything else markdown-it may add (raw HTML once enabled, say) is shown as written.
        return _Block(_content_lines(token.content), start, stop)

    def _container(self, token: Token, children: list[_Block], stop: int) -> _Block:
        start = _source_lines(token)[0]
        # Container maps include trailing blank lines; the content's end is what separates.
        end = children[-1].end if children else stop
        lines = _join(children)
        if token.type == "blockquote_open":
            lines = _quoted(lines)
        elif token.type == "list_item_open":
            # The agent's own number (token.info), not a renumbering: digits are content.
            lines = _item(f"{token.info}." if token.info else "-", lines)
        return _Block(lines, start, end)


# ---------------------------------------------------------------- public API


def markdown_to_whatsapp(markdown: str) -> str:
    """Convert Connect Markdown to WhatsApp-formatted text."""
    text = markdown.replace("\r\n", "\n").replace("\r", "\n")
    tokens = _PARSER.parse(text)
    if _too_deep(tokens):
        return text.strip("\n")
    return _BlockRenderer(tokens).render()


def split_for_whatsapp(text: str, limit: int = WHATSAPP_TEXT_LIMIT) -> list[str]:
    """Split already formatted text into WhatsApp text bodies (none empty or blank)."""
    return [part for part in split_text(text, limit) if part.strip()]


def format_for_whatsapp(
    content: str, *, markdown: bool, limit: int = WHATSAPP_TEXT_LIMIT
) -> list[str]:
    """Connect message content → WhatsApp text bodies, each within `limit` characters."""
    text = markdown_to_whatsapp(content) if markdown else content
    return split_for_whatsapp(text, limit)
