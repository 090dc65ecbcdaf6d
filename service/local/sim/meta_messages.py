"""Checks of the Meta message JSON inside SendWhatsAppMessage, for the types the bridge sends.

Text, media (by id or link), reaction, read receipt (+ typing indicator), interactive
button/list and template. Limits are Meta's (reference §4). Unknown extra fields are
allowed, as Meta allows them; missing or malformed required ones are rejected with Meta's
error text, e.g. "(#131009) Parameter value is not valid: ...".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

_MISSING: Final = (131008, "Required parameter is missing")
_INVALID: Final = (131009, "Parameter value is not valid")
_PHONE = re.compile(r"^\+?\d{6,20}$")
_BSUID = re.compile(r"^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$")
MEDIA_TYPES: Final = ("image", "video", "audio", "document", "sticker")
_CAPTIONED: Final = frozenset({"image", "video", "document"})
_TYPES: Final = ("text", *MEDIA_TYPES, "reaction", "interactive", "template")
_TEMPLATE_COMPONENTS: Final = ("header", "body", "button")


class MetaError(Exception):
    def __init__(self, code: tuple[int, str], detail: str) -> None:
        number, title = code
        super().__init__(f"(#{number}) {title}: {detail}")
        self.meta_code = number


@dataclass(frozen=True, slots=True)
class MetaSend:
    kind: str  # a message type, or "read" for a read receipt
    recipient: str | None
    message: Mapping[str, Any]


def is_bsuid(value: str) -> bool:
    return _BSUID.match(value) is not None


def _object(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = parent.get(key)
    if value is None:
        raise MetaError(_MISSING, f"{path}{key}")
    if not isinstance(value, Mapping):
        raise MetaError(_INVALID, f"{path}{key} must be an object")
    return value


def _text(
    parent: Mapping[str, Any],
    key: str,
    path: str,
    *,
    max_len: int,
    required: bool = True,
    min_len: int = 1,
) -> str | None:
    value = parent.get(key)
    if value is None:
        if required:
            raise MetaError(_MISSING, f"{path}{key}")
        return None
    if not isinstance(value, str):
        raise MetaError(_INVALID, f"{path}{key} must be a string")
    if not min_len <= len(value) <= max_len:
        raise MetaError(_INVALID, f"{path}{key} must be {min_len} to {max_len} characters long")
    return value


def _list(parent: Mapping[str, Any], key: str, path: str, *, low: int, high: int) -> list[Any]:
    value = parent.get(key)
    if value is None:
        raise MetaError(_MISSING, f"{path}{key}")
    if not isinstance(value, list):
        raise MetaError(_INVALID, f"{path}{key} must be an array")
    if not low <= len(value) <= high:
        raise MetaError(_INVALID, f"{path}{key} must have {low} to {high} entries")
    return value


def _unique(values: list[str], what: str) -> None:
    if len(set(values)) != len(values):
        raise MetaError(_INVALID, f"{what} must be unique")


def _check_media(kind: str, part: Mapping[str, Any], known_media: Callable[[str], bool]) -> None:
    media_id = part.get("id")
    link = part.get("link")
    if (media_id is None) == (link is None):
        raise MetaError(_INVALID, f"{kind} must have exactly one of id or link")
    if media_id is not None and (not isinstance(media_id, str) or not known_media(media_id)):
        raise MetaError(_INVALID, f"{kind}.id is not a known media id")
    if link is not None and (
        not isinstance(link, str) or not link.startswith(("https://", "http://"))
    ):
        raise MetaError(_INVALID, f"{kind}.link must be an http(s) URL")
    if kind in _CAPTIONED:
        _text(part, "caption", f"{kind}.", max_len=1024, required=False)
    if kind == "document":
        _text(part, "filename", "document.", max_len=240, required=False)


def _check_header(interactive: Mapping[str, Any], known_media: Callable[[str], bool]) -> None:
    header = interactive.get("header")
    if header is None:
        return
    if not isinstance(header, Mapping):
        raise MetaError(_INVALID, "interactive.header must be an object")
    kind = header.get("type")
    if kind == "text":
        _text(header, "text", "interactive.header.", max_len=60)
    elif kind in {"image", "video", "document"}:
        _check_media(str(kind), _object(header, str(kind), "interactive.header."), known_media)
    else:
        raise MetaError(_INVALID, "interactive.header.type must be text, image, video or document")


def _check_buttons(action: Mapping[str, Any]) -> None:
    buttons = _list(action, "buttons", "interactive.action.", low=1, high=3)
    ids: list[str] = []
    titles: list[str] = []
    for index, button in enumerate(buttons):
        path = f"interactive.action.buttons[{index}]."
        if not isinstance(button, Mapping) or button.get("type") != "reply":
            raise MetaError(_INVALID, f"{path}type must be reply")
        reply = _object(button, "reply", path)
        ids.append(str(_text(reply, "id", f"{path}reply.", max_len=256)))
        titles.append(str(_text(reply, "title", f"{path}reply.", max_len=20)))
    _unique(ids, "button ids")
    _unique(titles, "button titles")


def _check_list(action: Mapping[str, Any]) -> None:
    _text(action, "button", "interactive.action.", max_len=20)
    sections = _list(action, "sections", "interactive.action.", low=1, high=10)
    row_ids: list[str] = []
    for index, section in enumerate(sections):
        path = f"interactive.action.sections[{index}]."
        if not isinstance(section, Mapping):
            raise MetaError(_INVALID, f"{path[:-1]} must be an object")
        _text(section, "title", path, max_len=24, required=len(sections) > 1)
        for row_index, row in enumerate(_list(section, "rows", path, low=1, high=10)):
            row_path = f"{path}rows[{row_index}]."
            if not isinstance(row, Mapping):
                raise MetaError(_INVALID, f"{row_path[:-1]} must be an object")
            row_ids.append(str(_text(row, "id", row_path, max_len=200)))
            _text(row, "title", row_path, max_len=24)
            _text(row, "description", row_path, max_len=72, required=False)
    if len(row_ids) > 10:  # noqa: PLR2004  Meta's limit on rows over all sections
        raise MetaError(_INVALID, "a list may have at most 10 rows in total")
    _unique(row_ids, "row ids")


def _check_interactive(part: Mapping[str, Any], known_media: Callable[[str], bool]) -> None:
    kind = part.get("type")
    if kind not in {"button", "list"}:
        raise MetaError(_INVALID, "interactive.type must be button or list")
    body = _object(part, "body", "interactive.")
    _text(body, "text", "interactive.body.", max_len=1024)
    _check_header(part, known_media)
    footer = part.get("footer")
    if footer is not None:
        if not isinstance(footer, Mapping):
            raise MetaError(_INVALID, "interactive.footer must be an object")
        _text(footer, "text", "interactive.footer.", max_len=60)
    action = _object(part, "action", "interactive.")
    if kind == "button":
        _check_buttons(action)
    else:
        _check_list(action)


def _check_template_parameter(parameter: object, path: str) -> None:
    if not isinstance(parameter, Mapping):
        raise MetaError(_INVALID, f"{path[:-1]} must be an object")
    kind = _text(parameter, "type", path, max_len=32)
    if kind == "text":
        _text(parameter, "text", path, max_len=32768)
    elif kind in {"currency", "date_time"}:
        _text(_object(parameter, str(kind), path), "fallback_value", f"{path}{kind}.", max_len=1024)


def _check_template_components(components: list[Any]) -> None:
    """The send's components: which template part each parameter list fills."""
    for index, component in enumerate(components):
        path = f"template.components[{index}]."
        if not isinstance(component, Mapping):
            raise MetaError(_INVALID, f"{path[:-1]} must be an object")
        kind = str(_text(component, "type", path, max_len=20)).lower()
        if kind not in _TEMPLATE_COMPONENTS:
            raise MetaError(_INVALID, f"{path}type must be header, body or button")
        if kind == "button":
            _text(component, "sub_type", path, max_len=32)
            if component.get("index") is None:
                raise MetaError(_MISSING, f"{path}index")
        parameters = component.get("parameters")
        if parameters is None:
            continue
        if not isinstance(parameters, list):
            raise MetaError(_INVALID, f"{path}parameters must be an array")
        for number, parameter in enumerate(parameters):
            _check_template_parameter(parameter, f"{path}parameters[{number}].")


def _check_template(part: Mapping[str, Any]) -> None:
    # Whether the template exists and takes these parameters is Meta's later verdict (a
    # `failed` status), not the send's: see `templates`.
    _text(part, "name", "template.", max_len=512)
    language = _object(part, "language", "template.")
    _text(language, "code", "template.language.", max_len=20)
    components = part.get("components")
    if components is not None and not isinstance(components, list):
        raise MetaError(_INVALID, "template.components must be an array")
    _check_template_components(components or [])


def _check_read(message: Mapping[str, Any]) -> MetaSend:
    if message.get("status") != "read":
        raise MetaError(_INVALID, "status must be read")
    _text(message, "message_id", "", max_len=256)
    indicator = message.get("typing_indicator")
    if indicator is not None and (
        not isinstance(indicator, Mapping) or indicator.get("type") != "text"
    ):
        raise MetaError(_INVALID, "typing_indicator.type must be text")
    return MetaSend("read", None, message)


def _recipient(message: Mapping[str, Any]) -> str:
    to = message.get("to")
    if to is not None:
        if not isinstance(to, str) or not _PHONE.match(to):
            raise MetaError(_INVALID, "to must be a phone number")
        return to
    recipient = message.get("recipient")
    if recipient is None:
        raise MetaError(_MISSING, "to")
    if not isinstance(recipient, str) or not is_bsuid(recipient):
        raise MetaError(_INVALID, "recipient must be a business-scoped user id")
    return recipient


def _check_part(kind: str, part: Mapping[str, Any], known_media: Callable[[str], bool]) -> None:
    if kind == "text":
        _text(part, "body", "text.", max_len=4096)
    elif kind in MEDIA_TYPES:
        _check_media(kind, part, known_media)
    elif kind == "reaction":
        _text(part, "message_id", "reaction.", max_len=256)
        _text(part, "emoji", "reaction.", max_len=16, min_len=0)
    elif kind == "interactive":
        _check_interactive(part, known_media)
    else:
        _check_template(part)


def check_message(message: object, *, known_media: Callable[[str], bool]) -> MetaSend:
    if not isinstance(message, Mapping):
        raise MetaError(_INVALID, "the message must be a JSON object")
    if message.get("messaging_product") is None:
        raise MetaError(_MISSING, "messaging_product")
    if message.get("messaging_product") != "whatsapp":
        raise MetaError(_INVALID, "messaging_product must be whatsapp")
    if "status" in message:
        return _check_read(message)
    recipient = _recipient(message)
    recipient_type = message.get("recipient_type", "individual")
    if recipient_type != "individual":
        raise MetaError(_INVALID, "recipient_type must be individual")
    kind = message.get("type", "text")
    if kind not in _TYPES:
        raise MetaError(_INVALID, f"type must be one of {', '.join(_TYPES)}")
    _check_part(str(kind), _object(message, str(kind), ""), known_media)
    context = message.get("context")
    if context is not None:
        if not isinstance(context, Mapping):
            raise MetaError(_INVALID, "context must be an object")
        _text(context, "message_id", "context.", max_len=256)
    # Echoed in the message's statuses (Meta: at most 512 characters).
    _text(message, "biz_opaque_callback_data", "", max_len=512, required=False)
    return MetaSend(str(kind), recipient, message)
