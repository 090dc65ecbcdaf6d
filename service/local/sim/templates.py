"""WhatsApp message templates per WhatsApp Business Account (WABA), as Meta keeps them.

A template is Meta's Graph API object (name, language, status, category, components); EUM
Social lists and returns them (ListWhatsAppMessageTemplates, GetWhatsAppMessageTemplate),
and SendWhatsAppMessage sends one by name and language code. Meta accepts a template send
and reports a problem later, in a `failed` status: 132001 when the name+language does not
exist in the sender's WABA or is not approved, 132000 when the parameters given for the
header or the body are not as many as its placeholders, 132012 when a text placeholder
is given a media parameter. Placeholders are positional (`{{1}}`, `{{2}}`, ...), Meta's
default `parameter_format`.

Each sandbox starts (and resets) with `SEEDED` in the default business number's WABA: the
bridge's tests rely on these names, languages and parameter counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

TEMPLATE_MISSING: Final = 132001
PARAMETER_COUNT: Final = 132000
PARAMETER_FORMAT: Final = 132012

CATEGORIES: Final = ("MARKETING", "UTILITY", "AUTHENTICATION")
STATUSES: Final = ("APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED")
COMPONENT_TYPES: Final = ("HEADER", "BODY", "FOOTER", "BUTTONS")
HEADER_FORMATS: Final = ("TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION")
BUTTON_TYPES: Final = ("QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE")
PARAMETER_FORMAT_POSITIONAL: Final = "POSITIONAL"
# Meta scores a template's quality only once customers have seen enough of it.
_QUALITY_SCORE: Final = "UNKNOWN"
# Meta's ids are ~16-digit numbers; the sandbox's are the same for the same catalog.
_FIRST_META_ID: Final = 1_081_234_567_890_001

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
# Meta's limits on component texts and buttons.
_BODY_MAX: Final = 1024
_HEADER_MAX: Final = 60
_FOOTER_MAX: Final = 60
_BUTTON_TEXT_MAX: Final = 25
_BUTTONS_MAX: Final = 10
# Send-side parameters that fill a text placeholder, and the path to their text.
_TEXT_PARAMETERS: Final[dict[str, tuple[str, ...]]] = {
    "text": ("text",),
    "currency": ("currency", "fallback_value"),
    "date_time": ("date_time", "fallback_value"),
}
# The send's component types whose parameters are counted against the placeholders.
_FILLED: Final = ("header", "body")


class TemplateError(ValueError):
    """A template definition Meta would not accept for review."""


class TemplateExistsError(TemplateError):
    """The WABA already has a template of that name in that language."""


def placeholders(text: str) -> list[str]:
    """The distinct placeholder names in `text`, in order of first appearance."""
    return list(dict.fromkeys(match.group(1) for match in _PLACEHOLDER.finditer(text)))


def _text(component: Mapping[str, Any], kind: str, limit: int) -> str:
    text = component.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= limit:
        raise TemplateError(f"{kind} text must be 1 to {limit} characters")
    return text


def _positional(text: str, kind: str, *, most: int | None = None) -> None:
    names = placeholders(text)
    if names != [str(number) for number in range(1, len(names) + 1)]:
        raise TemplateError(f"{kind} placeholders must be {{{{1}}}}, {{{{2}}}}, ... in order")
    if most is not None and len(names) > most:
        raise TemplateError(f"{kind} may have at most {most} placeholder")


def _check_header(component: Mapping[str, Any]) -> None:
    header_format = component.get("format")
    if header_format not in HEADER_FORMATS:
        raise TemplateError(f"HEADER format must be one of {', '.join(HEADER_FORMATS)}")
    if header_format == "TEXT":
        _positional(_text(component, "HEADER", _HEADER_MAX), "HEADER", most=1)


def _check_buttons(component: Mapping[str, Any]) -> None:
    buttons = component.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= _BUTTONS_MAX:
        raise TemplateError(f"BUTTONS must list 1 to {_BUTTONS_MAX} buttons")
    for button in buttons:
        if not isinstance(button, Mapping) or button.get("type") not in BUTTON_TYPES:
            raise TemplateError(f"each button's type must be one of {', '.join(BUTTON_TYPES)}")
        _text(button, "a button's", _BUTTON_TEXT_MAX)


def check_components(components: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The components of a template definition, checked as Meta's review would."""
    seen: set[str] = set()
    for component in components:
        kind = component.get("type")
        if kind not in COMPONENT_TYPES:
            raise TemplateError(f"component type must be one of {', '.join(COMPONENT_TYPES)}")
        if kind in seen:
            raise TemplateError(f"a template has at most one {kind}")
        seen.add(kind)
        if kind == "BODY":
            _positional(_text(component, "BODY", _BODY_MAX), "BODY")
        elif kind == "HEADER":
            _check_header(component)
        elif kind == "FOOTER" and placeholders(_text(component, "FOOTER", _FOOTER_MAX)):
            raise TemplateError("FOOTER text cannot have placeholders")
        elif kind == "BUTTONS":
            _check_buttons(component)
    if "BODY" not in seen:
        raise TemplateError("a template needs a BODY")
    return tuple(dict(component) for component in components)


@dataclass(frozen=True, slots=True)
class Template:
    waba_id: str  # Meta's id of the WABA that owns it
    meta_id: str
    name: str
    language: str
    category: str
    status: str
    components: tuple[dict[str, Any], ...]

    def component(self, kind: str) -> Mapping[str, Any] | None:
        return next((part for part in self.components if part["type"] == kind), None)

    def expected_parameters(self, kind: str) -> int:
        """How many parameters a send gives the HEADER or BODY (a media header takes one)."""
        component = self.component(kind)
        if component is None:
            return 0
        if kind == "HEADER" and component["format"] != "TEXT":
            return 1
        return len(placeholders(component["text"]))

    def summary(self) -> dict[str, Any]:
        """ListWhatsAppMessageTemplates' TemplateSummary."""
        return {
            "templateName": self.name,
            "metaTemplateId": self.meta_id,
            "templateStatus": self.status,
            "templateQualityScore": _QUALITY_SCORE,
            "templateLanguage": self.language,
            "templateCategory": self.category,
        }

    def definition(self) -> dict[str, Any]:
        """Meta's Graph API template object: what GetWhatsAppMessageTemplate returns."""
        return {
            "name": self.name,
            "language": self.language,
            "status": self.status,
            "category": self.category,
            "id": self.meta_id,
            "parameter_format": PARAMETER_FORMAT_POSITIONAL,
            "components": [dict(component) for component in self.components],
        }

    def describe(self) -> dict[str, Any]:
        return {"wabaId": self.waba_id, **self.summary(), "definition": self.definition()}


@dataclass(frozen=True, slots=True)
class TemplateSend:
    """What becomes of a template send: the text the customer sees, or Meta's error."""

    rendered: str | None = None
    error: int | None = None
    details: str | None = None


def _parameter_text(parameter: Mapping[str, Any]) -> str | None:
    path = _TEXT_PARAMETERS.get(str(parameter.get("type")))
    if path is None:
        return None
    value: Any = parameter
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, str) else None


def _given(components: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    given: dict[str, list[Mapping[str, Any]]] = {kind: [] for kind in _FILLED}
    for component in components:
        kind = str(component.get("type", "")).lower()
        if kind in given:
            given[kind] += component.get("parameters") or []
    return given


def _fill(text: str, values: Sequence[str]) -> str:
    return _PLACEHOLDER.sub(lambda match: values[int(match.group(1)) - 1], text)


def prepare_send(
    template: Template | None, name: str, language: str, components: Iterable[Mapping[str, Any]]
) -> TemplateSend:
    """Check a send of template `name` in `language` with the send's `components`."""
    if template is None:
        return TemplateSend(
            error=TEMPLATE_MISSING, details=f"template name ({name}) does not exist in {language}"
        )
    if template.status != "APPROVED":
        # Only an approved translation can be sent: to a send, the others do not exist.
        return TemplateSend(
            error=TEMPLATE_MISSING,
            details=f"template name ({name}) is {template.status} in {language}, not APPROVED",
        )
    given = _given(components)
    for kind in _FILLED:
        expected = template.expected_parameters(kind.upper())
        if len(given[kind]) != expected:
            return TemplateSend(
                error=PARAMETER_COUNT,
                details=f"{kind}: number of localizable_params ({len(given[kind])}) does not "
                f"match the expected number of params ({expected})",
            )
    lines: list[str] = []
    for kind in _FILLED:
        component = template.component(kind.upper())
        if component is None or component.get("format", "TEXT") != "TEXT":
            continue  # a media header shows no text
        values = [_parameter_text(parameter) for parameter in given[kind]]
        filled = [value for value in values if value is not None]
        if len(filled) != len(values):
            return TemplateSend(
                error=PARAMETER_FORMAT,
                details=f"{kind}: a text placeholder takes a text, currency or date_time parameter",
            )
        lines.append(_fill(component["text"], filled))
    return TemplateSend(rendered="\n".join(lines))


def _body(text: str, *examples: str) -> dict[str, Any]:
    component: dict[str, Any] = {"type": "BODY", "text": text}
    if examples:
        component["example"] = {"body_text": [list(examples)]}
    return component


# (name, language, category, status, components): the templates every sandbox starts with.
SEEDED: Final[tuple[tuple[str, str, str, str, tuple[dict[str, Any], ...]], ...]] = (
    (
        "reengage",
        "en_US",
        "UTILITY",
        "APPROVED",
        (
            _body(
                "Hello {{1}}, {{2}} from our team has replied to your message. Reply to this "
                "message to continue the conversation.",
                "Ana",
                "Sam",
            ),
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Continue"}]},
        ),
    ),
    (
        "reengage",
        "es_MX",
        "UTILITY",
        "APPROVED",
        (
            _body(
                "Hola {{1}}, {{2}} de nuestro equipo respondió a tu mensaje. Responde a este "
                "mensaje para continuar.",
                "Ana",
                "Sam",
            ),
        ),
    ),
    (
        "order_update",
        "en_US",
        "UTILITY",
        "APPROVED",
        (
            {
                "type": "HEADER",
                "format": "TEXT",
                "text": "Order {{1}}",
                "example": {"header_text": ["A-123"]},
            },
            _body("Your order {{1}} is {{2}}.", "A-123", "on its way"),
            {"type": "FOOTER", "text": "Reply STOP to opt out"},
        ),
    ),
    (
        "welcome",
        "en_US",
        "MARKETING",
        "APPROVED",
        (_body("Welcome to our store! How can we help?"),),
    ),
    ("spring_sale", "en_US", "MARKETING", "PENDING", (_body("Spring sale: {{1}} off", "20%"),)),
)


class TemplateCatalog:
    """Every WABA's templates, in the order they were created."""

    def __init__(self, default_waba: str) -> None:
        self._default_waba = default_waba
        self._templates: list[Template] = []
        self._next_id = _FIRST_META_ID
        self.reset()

    def add(
        self,
        waba_id: str,
        *,
        name: str,
        language: str,
        category: str,
        status: str,
        components: Sequence[Mapping[str, Any]],
    ) -> Template:
        """Create a template; `TemplateError` if Meta would refuse it (or it exists)."""
        if not _NAME.match(name):
            raise TemplateError("name must be 1 to 512 lower-case letters, digits or _")
        if not _LANGUAGE.match(language):
            raise TemplateError("language must be a WhatsApp language code such as en_US")
        if category not in CATEGORIES:
            raise TemplateError(f"category must be one of {', '.join(CATEGORIES)}")
        if status not in STATUSES:
            raise TemplateError(f"status must be one of {', '.join(STATUSES)}")
        checked = check_components(components)
        if self.find(waba_id, name, language) is not None:
            raise TemplateExistsError(f"template {name} already exists in {language}")
        template = Template(waba_id, str(self._next_id), name, language, category, status, checked)
        self._next_id += 1
        self._templates.append(template)
        return template

    def templates(self, waba_id: str | None = None) -> list[Template]:
        return [t for t in self._templates if waba_id is None or t.waba_id == waba_id]

    def find(self, waba_id: str, name: str, language: str) -> Template | None:
        return next(
            (
                t
                for t in self._templates
                if (t.waba_id, t.name, t.language) == (waba_id, name, language)
            ),
            None,
        )

    def by_meta_id(self, waba_id: str, meta_id: str) -> Template | None:
        return next(
            (t for t in self._templates if (t.waba_id, t.meta_id) == (waba_id, meta_id)), None
        )

    def prepare(self, waba_id: str, part: Mapping[str, Any]) -> TemplateSend:
        """A send's `template` part (already shape-checked) against the WABA's catalog."""
        name: str = part["name"]
        language: str = part["language"]["code"]
        components = part.get("components") or []
        return prepare_send(self.find(waba_id, name, language), name, language, components)

    def reset(self) -> None:
        self._templates = []
        self._next_id = _FIRST_META_ID
        for name, language, category, status, components in SEEDED:
            self.add(
                self._default_waba,
                name=name,
                language=language,
                category=category,
                status=status,
                components=components,
            )
