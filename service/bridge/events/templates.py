"""WhatsApp message templates as Meta defines them (`GetWhatsAppMessageTemplate`).

A definition (Meta's Graph API template object) names placeholders `{{1}}`, `{{2}}` … in
a text header and in the body; a send fills them with `components` parameters, header
first. `Template` is the typed form, with the send it makes and the text the customer reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


class TemplateDefinitionError(ValueError):
    """Meta's definition could not be read (not JSON, or no usable components)."""


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    language: str
    category: str
    status: str
    header: str = ""  # a text header, with its placeholders
    body: str = ""
    footer: str = ""

    @property
    def header_parameters(self) -> int:
        return _count(self.header)

    @property
    def body_parameters(self) -> int:
        return _count(self.body)

    @property
    def parameters(self) -> int:
        return self.header_parameters + self.body_parameters

    @property
    def approved(self) -> bool:
        return self.status.upper() == "APPROVED"

    def rendered(self, parameters: Sequence[str]) -> str:
        """What the customer reads, placeholders filled (for notes and the transcript)."""
        header = _fill(self.header, parameters[: self.header_parameters])
        body = _fill(self.body, parameters[self.header_parameters :])
        return "\n".join(part for part in (header, body, self.footer) if part)

    def message_fields(self, parameters: Sequence[str]) -> dict[str, Any]:
        """The `type: template` part of a SendWhatsAppMessage body (recipient added later)."""
        if len(parameters) != self.parameters:
            raise ValueError(f"{self.name} takes {self.parameters} parameters")
        split = self.header_parameters
        components: list[dict[str, Any]] = []
        if split:
            header = _text_parameters(parameters[:split])
            components.append({"type": "header", "parameters": header})
        if self.body_parameters:
            components.append({"type": "body", "parameters": _text_parameters(parameters[split:])})
        template: dict[str, Any] = {"name": self.name, "language": {"code": self.language}}
        if components:
            template["components"] = components
        return {"type": "template", "template": template}


def parse_definition(definition: str | Mapping[str, Any]) -> Template:
    """A template from Meta's definition (JSON text or already decoded)."""
    if isinstance(definition, str):
        try:
            data = json.loads(definition)
        except json.JSONDecodeError as exc:
            raise TemplateDefinitionError("the template definition is not JSON") from exc
    else:
        data = definition
    if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
        raise TemplateDefinitionError("the template definition has no name")
    texts: dict[str, str] = {}
    for component in data.get("components") or ():
        if not isinstance(component, Mapping):
            continue
        kind = str(component.get("type", "")).upper()
        text = component.get("text")
        # Only a TEXT header takes text parameters; media headers are not supported here.
        if kind == "HEADER" and str(component.get("format", "TEXT")).upper() != "TEXT":
            raise TemplateDefinitionError("templates with a media header are not supported")
        if kind in {"HEADER", "BODY", "FOOTER"} and isinstance(text, str):
            texts[kind] = text
    language = data.get("language")
    return Template(
        name=data["name"],
        language=str(language) if language else "",
        category=str(data.get("category") or ""),
        status=str(data.get("status") or ""),
        header=texts.get("HEADER", ""),
        body=texts.get("BODY", ""),
        footer=texts.get("FOOTER", ""),
    )


def _count(text: str) -> int:
    numbers = {int(match) for match in _PLACEHOLDER.findall(text)}
    return max(numbers, default=0)


def _fill(text: str, parameters: Sequence[str]) -> str:
    def value(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        return parameters[index] if 0 <= index < len(parameters) else match.group(0)

    return _PLACEHOLDER.sub(value, text)


def _text_parameters(values: Sequence[str]) -> list[dict[str, str]]:
    return [{"type": "text", "text": value} for value in values]
