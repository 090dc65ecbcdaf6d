"""Which template to send, and with what: the agent's commands and the re-engagement.

Nothing here sends. It reads the business number's templates (`TemplateCatalog`), checks a
send against the template's definition (name, language, parameter count and form, status)
before WhatsApp would accept it and fail it later (132000, 132001), and returns either a
ready send or the plain words the agent reads instead. The caller (`flows.reply`) sends
it like every other message: claimed, paced, remembered for its delivery status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from service.bridge.events.templates import Template
from service.bridge.text.commands import SendTemplate
from service.bridge.text.templates import parameter_problem, templates_note
from service.errors import BridgeError

if TYPE_CHECKING:
    from service.bridge.adapters.sessions import Session

log = structlog.get_logger(__name__)


class Catalog(Protocol):
    async def templates(self, origination_id: str) -> list[Template]: ...


@dataclass(frozen=True, slots=True)
class ReadySend:
    template: Template
    parameters: tuple[str, ...]

    def message_fields(self) -> dict[str, Any]:
        return self.template.message_fields(self.parameters)

    @property
    def rendered(self) -> str:
        return self.template.rendered(self.parameters)


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str  # plain words for the agent


@dataclass(frozen=True, slots=True)
class Reengagement:
    """The configured re-engagement template (BRIDGE_REENGAGE_TEMPLATE…)."""

    name: str
    language: str
    # Header first; `{customer_name}` and `{agent_name}` are filled from the chat.
    parameters: tuple[str, ...]


class TemplateSends:
    def __init__(self, *, catalog: Catalog, reengagement: Reengagement | None = None) -> None:
        self._catalog = catalog
        self._reengagement = reengagement

    @property
    def reengagement_name(self) -> str | None:
        return None if self._reengagement is None else self._reengagement.name

    async def listing(self, session: Session) -> str:
        """The answer to `/templates` for the chat's business number."""
        try:
            templates = await self._catalog.templates(session.origination_id)
        except BridgeError as exc:
            log.warning("templates_unavailable", error=type(exc).__name__)
            return "⚠️ The templates could not be read just now; try again in a minute."
        return templates_note(templates, business=session.business_phone_number_id)

    async def command(self, session: Session, command: SendTemplate) -> ReadySend | Refusal:
        """`/template NAME [LANG] p1 | p2 …` checked against the number's templates."""
        return await self._checked(
            session.origination_id, command.name, command.resolve, who="/template"
        )

    async def reengage(self, session: Session, *, agent_name: str | None) -> ReadySend | Refusal:
        """The re-engagement template for this chat, its parameters filled."""
        config = self._reengagement
        if config is None:
            return Refusal("no re-engagement template is configured")
        values = {
            "customer_name": (session.display_name or "").strip() or "there",
            "agent_name": (agent_name or "").strip() or "our team",
        }
        parameters = tuple(_fill(parameter, values) for parameter in config.parameters)

        def resolve(_: Sequence[str]) -> tuple[str | None, tuple[str, ...]]:
            return config.language, parameters

        return await self._checked(
            session.origination_id, config.name, resolve, who="the re-engagement template"
        )

    async def outreach(
        self, origination_id: str, name: str, language: str | None, parameters: Sequence[str]
    ) -> ReadySend | Refusal:
        def resolve(_: Sequence[str]) -> tuple[str | None, tuple[str, ...]]:
            return language, tuple(parameters)

        return await self._checked(origination_id, name, resolve, who="outreach")

    async def _checked(
        self,
        origination_id: str,
        name: str,
        resolve: Resolver,
        *,
        who: str,
    ) -> ReadySend | Refusal:
        try:
            templates = await self._catalog.templates(origination_id)
        except BridgeError as exc:
            log.warning("templates_unavailable", error=type(exc).__name__)
            return Refusal("the templates could not be read just now; try again in a minute")
        named = [t for t in templates if t.name == name]
        if not named:
            return Refusal(f"there is no template called {name} (see /templates)")
        language, parameters = resolve([t.language for t in named])
        chosen = _in_language(named, language)
        if isinstance(chosen, Refusal):
            return chosen
        if not chosen.approved:
            return Refusal(
                f"{name} ({chosen.language}) is {chosen.status.lower() or 'not approved'}: "
                "WhatsApp sends only approved templates"
            )
        problem = parameter_problem(chosen, parameters)
        if problem is not None:
            log.info("template_refused", who=who, template=name)
            return Refusal(problem)
        return ReadySend(chosen, tuple(parameters))


def _in_language(named: Sequence[Template], language: str | None) -> Template | Refusal:
    languages = ", ".join(t.language for t in named)
    if language is None:
        if len(named) > 1:
            return Refusal(f"{named[0].name} exists in {languages}: name the language")
        return named[0]
    found = [t for t in named if t.language == language]
    if not found:
        return Refusal(f"{named[0].name} has no {language} version (it has {languages})")
    return found[0]


class Resolver(Protocol):
    def __call__(self, languages: Sequence[str], /) -> tuple[str | None, tuple[str, ...]]: ...


def _fill(parameter: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        parameter = parameter.replace("{" + name + "}", value)
    return parameter
