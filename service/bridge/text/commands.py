"""What an agent types to the bridge rather than to the customer: slash commands.

They work in any agent workspace because they are plain chat text: `/templates` lists the
business number's approved templates, `/template NAME [LANGUAGE] p1 | p2 …` sends one.
Only a message that starts with one of these words is a command; anything else (a URL, a
path, "/shrug") is the agent's text for the customer, as before.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

# Meta's language codes: `en`, `en_US`, `pt_BR`, `zh_Hant`…; also accept `en-US`.
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:[_-][A-Za-z]{2,4})?$")
_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_LIST: Final = "/templates"
_SEND: Final = "/template"


@dataclass(frozen=True, slots=True)
class ListTemplates:
    pass


@dataclass(frozen=True, slots=True)
class SendTemplate:
    """`/template NAME [LANGUAGE] p1 | p2 …` as typed; the language is decided with the
    catalogue in hand (`resolve`), since "ana" could be a language code or a parameter."""

    name: str
    words: tuple[str, ...]  # after the name, before the first "|"
    rest: tuple[str, ...]  # each "|"-separated parameter after that
    has_bar: bool = False

    def resolve(self, languages: Collection[str]) -> tuple[str | None, tuple[str, ...]]:
        """(language, parameters): the first word is the language when the template has it."""
        words = list(self.words)
        language: str | None = None
        if words and _LANGUAGE.match(words[0]):
            candidate = words[0].replace("-", "_")
            if candidate in languages:
                language = candidate
                words = words[1:]
        if not words and not self.has_bar:
            return language, ()
        return language, (" ".join(words), *self.rest)


@dataclass(frozen=True, slots=True)
class BadCommand:
    reason: str


AgentCommand = ListTemplates | SendTemplate | BadCommand

USAGE: Final = "Usage: /template NAME [LANGUAGE] parameter 1 | parameter 2 …  (list: /templates)"


def parse_command(text: str) -> AgentCommand | None:
    """The command this message is, or None if it is text for the customer."""
    if not text.strip():
        return None
    word, *more = text.strip().split(maxsplit=1)
    rest = more[0] if more else ""
    if word.lower() == _LIST and not rest.strip():
        return ListTemplates()
    if word.lower() != _SEND:
        return None
    head, bar, tail = rest.strip().partition("|")
    tokens = head.split()
    if not tokens:
        return BadCommand("a template name is missing. " + USAGE)
    name = tokens[0]
    if not _NAME.match(name):
        return BadCommand(f"“{name[:64]}” is not a template name. " + USAGE)
    rest_parameters = tuple(part.strip() for part in tail.split("|")) if bar else ()
    return SendTemplate(name=name, words=tuple(tokens[1:]), rest=rest_parameters, has_bar=bool(bar))
