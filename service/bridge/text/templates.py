"""WhatsApp templates in words: a send checked before WhatsApp would fail it, and the list
an agent reads for `/templates`.

Meta refuses a send whose parameter count differs (132000) only after accepting it, and a
parameter with a line break or a tab likewise, so the bridge checks before sending.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from service.bridge.events.templates import Template

# Meta's limit for one parameter; in practice less with the rest of the body
# (open-chat-studio saw ~974), since the whole body is capped at 1,024.
MAX_PARAMETER_CHARS: Final = 1024


def parameter_problem(template: Template, parameters: Sequence[str]) -> str | None:
    """Why these parameters cannot fill the template, in plain words; None if they can."""
    if len(parameters) != template.parameters:
        return (
            f"the template {template.name} ({template.language}) takes "
            f"{template.parameters} parameter{'s' if template.parameters != 1 else ''}, "
            f"you gave {len(parameters)}"
        )
    for number, value in enumerate(parameters, start=1):
        if not value.strip():
            return f"parameter {number} is empty"
        if len(value) > MAX_PARAMETER_CHARS:
            return f"parameter {number} is longer than {MAX_PARAMETER_CHARS} characters"
        # Meta refuses newlines, tabs and more than four spaces in a row in a parameter.
        if "\n" in value or "\t" in value or "     " in value:
            return f"parameter {number} has a line break, a tab or more than four spaces"
    return None


def templates_note(templates: Sequence[Template], *, business: str) -> str:
    """The answer to `/templates`: what the agent can send, with each one's parameters."""
    usable = [t for t in templates if t.approved]
    if not usable:
        return f"📋 No approved WhatsApp templates for {business}."
    lines = [f"📋 Approved WhatsApp templates for {business}:"]
    for template in usable:
        lines.append(
            f"• {template.name} ({template.language}, {template.category.lower()}): "
            f"{template.parameters} parameter{'s' if template.parameters != 1 else ''}"
        )
        lines.append(f"  “{_one_line(template.rendered(_slots(template)))}”")
    lines.append("Send one with /template NAME [LANGUAGE] parameter 1 | parameter 2 …")
    return "\n".join(lines)


def _slots(template: Template) -> list[str]:
    return [f"{{{{{n}}}}}" for n in range(1, template.header_parameters + 1)] + [
        f"{{{{{n}}}}}" for n in range(1, template.body_parameters + 1)
    ]


def _one_line(text: str) -> str:
    return " / ".join(line.strip() for line in text.splitlines() if line.strip())
