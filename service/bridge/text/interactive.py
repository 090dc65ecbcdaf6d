"""Connect interactive messages ⇄ WhatsApp interactive lists and reply buttons.

Outbound: a bot/flow's `…message.interactive` JSON (ListPicker, Panel, QuickReply and
the WhatsApp list / reply-button templates) becomes a WhatsApp `interactive` message
within WhatsApp's limits (reference §4), else a numbered text the customer can answer.

Inbound: the customer's `button_reply` / `list_reply` goes back to Connect. The bridge
keeps no state between the two: each option's WhatsApp id carries the template code and
the option's full title (`lp:Billing`), so a title shortened for WhatsApp is restored.
The reply is sent as `…message.interactive.response` with content
`{"templateType", "version", "data": {"content": {"title", "id"}}}`: `title` is what
a Lex slot or a flow branch compares against, exactly as Connect sent it. The exact
shape Lex reads is unverified; `as_interactive_response=False` sends the title as
`text/plain`, which every bot and flow understands.
"""

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from service.bridge.events.content_types import INTERACTIVE_RESPONSE
from service.bridge.events.whatsapp import ButtonPayload, InteractiveReplyPayload
from service.bridge.text.markdown import markdown_to_whatsapp

BODY_LIMIT: Final = 1024
HEADER_FOOTER_LIMIT: Final = 60
MAX_BUTTONS: Final = 3
BUTTON_TITLE_LIMIT: Final = 20
BUTTON_ID_LIMIT: Final = 256
LIST_BUTTON_LIMIT: Final = 20
MAX_SECTIONS: Final = 10
MAX_ROWS: Final = 10
ROW_TITLE_LIMIT: Final = 24
ROW_DESCRIPTION_LIMIT: Final = 72
ROW_ID_LIMIT: Final = 200
SECTION_TITLE_LIMIT: Final = 24

# Short codes kept in option ids so a reply can name its template without state.
_TEMPLATE_CODES: Final[Mapping[str, str]] = {
    "QuickReply": "qr",
    "ListPicker": "lp",
    "Panel": "pn",
    "WhatsAppInteractiveList": "wl",
    "WhatsAppInteractiveReplyButton": "wb",
}
_CODE_TEMPLATES: Final = {code: name for name, code in _TEMPLATE_CODES.items()}


class MalformedInteractiveError(ValueError):
    """The interactive content is not a JSON template we can read."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Choice(_Model):
    title: str
    id: str | None = None  # given by WhatsApp templates; generated otherwise
    description: str | None = None


class Section(_Model):
    title: str | None = None
    choices: tuple[Choice, ...]


class ConnectInteractive(_Model):
    template_type: str
    title: str | None = None
    subtitle: str | None = None
    header: str | None = None
    footer: str | None = None
    button_text: str | None = None
    image_url: str | None = None
    sections: tuple[Section, ...] = ()
    time_slots: tuple[str, ...] = ()

    @property
    def choices(self) -> tuple[Choice, ...]:
        return tuple(c for s in self.sections for c in s.choices)

    @property
    def prefers_buttons(self) -> bool:
        return self.template_type == "QuickReply" or "Button" in self.template_type


class WhatsAppOutbound(_Model):
    """The type-specific part of a WhatsApp message: merge with `to`/`messaging_product`."""

    type: Literal["interactive", "text"]
    interactive: dict[str, Any] | None = None
    text: str | None = None

    def message_fields(self) -> dict[str, Any]:
        if self.type == "interactive":
            return {"type": "interactive", "interactive": self.interactive}
        return {"type": "text", "text": {"preview_url": False, "body": self.text}}


class ConnectReply(_Model):
    content_type: str
    content: str


# ---------------------------------------------------------------- reading Connect JSON


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, Mapping):  # WhatsApp-style {"text": …} objects
        return _text(value.get("text"))
    return None


def _choice(raw: Any) -> Choice | None:
    if not isinstance(raw, Mapping):
        return None
    title = _text(raw.get("title"))
    if title is None:
        return None
    description = _text(raw.get("description")) or _text(raw.get("subtitle"))
    identifier = _text(raw.get("id")) or _text(raw.get("identifier"))
    return Choice(title=title, id=identifier, description=description)


def _choices(raws: Any) -> tuple[Choice, ...]:
    if not isinstance(raws, Sequence) or isinstance(raws, str):
        return ()
    return tuple(c for c in map(_choice, raws) if c is not None)


def _sections(content: Mapping[str, Any]) -> tuple[Section, ...]:
    raw_sections = content.get("sections")
    if isinstance(raw_sections, Sequence) and not isinstance(raw_sections, str):
        sections = tuple(
            Section(
                title=_text(s.get("title")),
                choices=_choices(s.get("rows") or s.get("elements") or s.get("buttons")),
            )
            for s in raw_sections
            if isinstance(s, Mapping)
        )
        return tuple(s for s in sections if s.choices)
    flat = _choices(content.get("elements") or content.get("buttons") or content.get("rows"))
    return (Section(choices=flat),) if flat else ()


def _time_slots(content: Mapping[str, Any]) -> tuple[str, ...]:
    slots = content.get("timeslots")
    if not isinstance(slots, Sequence) or isinstance(slots, str):
        return ()
    return tuple(
        f"{slot['date']} ({slot.get('duration', '?')} min)"
        for slot in slots
        if isinstance(slot, Mapping) and isinstance(slot.get("date"), str)
    )


def parse_connect_interactive(content: str | Mapping[str, Any]) -> ConnectInteractive:
    try:
        document = json.loads(content) if isinstance(content, str) else content
    except (ValueError, RecursionError) as exc:
        raise MalformedInteractiveError("interactive content is not valid JSON") from exc
    if not isinstance(document, Mapping) or not isinstance(document.get("templateType"), str):
        raise MalformedInteractiveError("interactive content has no templateType")
    data = document.get("data")
    body = data.get("content") if isinstance(data, Mapping) else None
    if not isinstance(body, Mapping):
        raise MalformedInteractiveError("interactive content has no data.content object")
    image = _text(body.get("imageData")) if body.get("imageType") == "URL" else None
    return ConnectInteractive(
        template_type=document["templateType"],
        title=_text(body.get("title")),
        subtitle=_text(body.get("subtitle")) or _text(body.get("body")),
        header=_text(body.get("header")),
        footer=_text(body.get("footer")),
        button_text=_text(body.get("buttonText")) or _text(body.get("button")),
        image_url=image,
        sections=_sections(body),
        time_slots=_time_slots(body),
    )


# ---------------------------------------------------------------- building WhatsApp


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _option_id(template_type: str, choice: Choice) -> str:
    if choice.id:
        return choice.id
    code = _TEMPLATE_CODES.get(template_type, "cx")
    return f"{code}:{choice.title}"


def _body(message: ConnectInteractive) -> str:
    parts = [p for p in (message.title, message.subtitle) if p]
    return markdown_to_whatsapp("\n".join(parts)) or "Please choose an option"


def _short_titles(choices: Sequence[Choice], limit: int) -> list[str] | None:
    """Titles shortened to `limit`, or None if shortening makes two of them equal."""
    titles = [_fit(c.title, limit) for c in choices]
    return titles if len(set(titles)) == len(titles) else None


def _envelope(message: ConnectInteractive, body: str) -> dict[str, Any]:
    interactive: dict[str, Any] = {"body": {"text": body}}
    if message.footer:
        interactive["footer"] = {"text": _fit(message.footer, HEADER_FOOTER_LIMIT)}
    return interactive


def _buttons(message: ConnectInteractive, body: str) -> dict[str, Any] | None:
    choices = message.choices
    titles = _short_titles(choices, BUTTON_TITLE_LIMIT)
    ids = [_option_id(message.template_type, c) for c in choices]
    if not 1 <= len(choices) <= MAX_BUTTONS or titles is None:
        return None
    if any(len(i) > BUTTON_ID_LIMIT for i in ids) or len(set(ids)) != len(ids):
        return None
    interactive = {"type": "button", **_envelope(message, body)}
    if message.image_url:
        interactive["header"] = {"type": "image", "image": {"link": message.image_url}}
    elif message.header:
        interactive["header"] = {"type": "text", "text": _fit(message.header, HEADER_FOOTER_LIMIT)}
    interactive["action"] = {
        "buttons": [
            {"type": "reply", "reply": {"id": i, "title": t}}
            for i, t in zip(ids, titles, strict=True)
        ]
    }
    return interactive


def _rows(message: ConnectInteractive, section: Section) -> list[dict[str, Any]] | None:
    titles = _short_titles(section.choices, ROW_TITLE_LIMIT)
    if titles is None:
        return None
    rows: list[dict[str, Any]] = []
    for choice, title in zip(section.choices, titles, strict=True):
        row: dict[str, Any] = {"id": _option_id(message.template_type, choice), "title": title}
        if len(row["id"]) > ROW_ID_LIMIT:
            return None
        if choice.description:
            row["description"] = _fit(choice.description, ROW_DESCRIPTION_LIMIT)
        rows.append(row)
    return rows


def _list(message: ConnectInteractive, body: str, label: str) -> dict[str, Any] | None:
    sections = message.sections
    choices = message.choices
    if not 1 <= len(choices) <= MAX_ROWS or len(sections) > MAX_SECTIONS:
        return None
    if len({c.title for c in choices}) != len(choices):
        return None
    built: list[dict[str, Any]] = []
    for index, section in enumerate(sections, start=1):
        rows = _rows(message, section)
        if rows is None:
            return None
        entry: dict[str, Any] = {"rows": rows}
        if section.title or len(sections) > 1:
            entry["title"] = _fit(section.title or f"Options {index}", SECTION_TITLE_LIMIT)
        built.append(entry)
    ids = [row["id"] for entry in built for row in entry["rows"]]
    if len(set(ids)) != len(ids):
        return None
    interactive = {"type": "list", **_envelope(message, body)}
    if message.header:
        interactive["header"] = {"type": "text", "text": _fit(message.header, HEADER_FOOTER_LIMIT)}
    button = _fit(message.button_text or label, LIST_BUTTON_LIMIT)
    interactive["action"] = {"button": button, "sections": built}
    return interactive


def _fallback_text(message: ConnectInteractive, hint: str) -> str:
    lines = [_body(message)] if (message.title or message.subtitle) else []
    options = [
        f"{n}. {c.title}" + (f" — {c.description}" if c.description else "")
        for n, c in enumerate(message.choices, start=1)
    ]
    options += [f"{n}. {slot}" for n, slot in enumerate(message.time_slots, start=len(options) + 1)]
    if options:
        lines += ["", *options, "", hint]
    return "\n".join(lines) if lines else "[An interactive message that WhatsApp cannot show]"


def interactive_to_whatsapp(
    content: str | Mapping[str, Any],
    *,
    list_button_label: str = "Options",
    fallback_hint: str = "Reply with the option you choose.",
) -> WhatsAppOutbound:
    """Connect interactive content → WhatsApp reply buttons, list, or a text fallback.

    The fallback text can exceed WhatsApp's text limit; split it like any text.
    Raises `MalformedInteractiveError` for content that is not a template at all.
    """
    message = parse_connect_interactive(content)
    body = _body(message)
    if message.choices and len(body) <= BODY_LIMIT:
        interactive = None
        use_buttons = message.prefers_buttons or (
            len(message.choices) <= MAX_BUTTONS
            and not any(c.description for c in message.choices)
            and len(message.sections) == 1
            and not message.sections[0].title
        )
        if use_buttons:
            interactive = _buttons(message, body)
        if interactive is None:  # too many or too long for buttons: a list may still fit
            interactive = _list(message, body, list_button_label)
        if interactive is not None:
            return WhatsAppOutbound(type="interactive", interactive=interactive)
    return WhatsAppOutbound(type="text", text=_fallback_text(message, fallback_hint))


# ---------------------------------------------------------------- the customer's choice


def _decode_option_id(identifier: str | None) -> tuple[str | None, str | None]:
    """`lp:Billing` → ("ListPicker", "Billing"); foreign ids → (None, None)."""
    if not identifier:
        return None, None
    code, separator, title = identifier.partition(":")
    if separator and code in _CODE_TEMPLATES and title:
        return _CODE_TEMPLATES[code], title
    if separator and code == "cx" and title:
        return None, title
    return None, None


def reply_to_connect(
    reply: InteractiveReplyPayload | ButtonPayload, *, as_interactive_response: bool = True
) -> ConnectReply:
    """The customer's WhatsApp choice → the message the bridge sends to Connect."""
    if isinstance(reply, ButtonPayload):
        # A template quick-reply button: it never came from a Connect interactive message.
        return ConnectReply(content_type="text/plain", content=reply.text)
    template, full_title = _decode_option_id(reply.id)
    title = full_title or reply.title or reply.id or ""
    if not as_interactive_response or reply.reply_type not in {"button_reply", "list_reply"}:
        return ConnectReply(content_type="text/plain", content=title or reply.reply_type)
    default_template = "QuickReply" if reply.reply_type == "button_reply" else "ListPicker"
    selected: dict[str, str] = {"title": title}
    if reply.id:
        selected["id"] = reply.id
    document = {
        "templateType": template or default_template,
        "version": "1.0",
        "data": {"content": selected},
    }
    return ConnectReply(
        content_type=INTERACTIVE_RESPONSE,
        content=json.dumps(document, ensure_ascii=False, separators=(",", ":")),
    )
