"""The WhatsApp templates of a business number, from AWS End User Messaging Social.

A business number (its EUM origination id) belongs to one WhatsApp Business Account;
`GetLinkedWhatsAppBusinessAccountPhoneNumber` names it (and Meta's id of the number),
`ListWhatsAppMessageTemplates` lists its templates and `GetWhatsAppMessageTemplate` gives
each one's definition, which holds the placeholders the parameters must fill. Templates
change rarely (Meta reviews them for minutes to days), and agents ask for them in bursts,
so what is read is kept for `ttl_s`; a number's account never changes and is kept for good.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import structlog

from service.aws_errors import translated
from service.bridge.events.templates import Template, TemplateDefinitionError, parse_definition
from service.call_errors import CallErrors
from service.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from types_aiobotocore_socialmessaging import EndUserMessagingSocialClient

log = structlog.get_logger(__name__)

_SERVICE: Final = "socialmessaging"
_PAGE: Final = 100


@dataclass(frozen=True, slots=True)
class LinkedNumber:
    """A business number as EUM knows it."""

    origination_id: str  # `phone-number-id-<hex>`
    meta_phone_number_id: str  # Meta's id, the business part of a customer key
    waba_id: str  # EUM's `waba-<hex>`
    display_phone_number: str | None = None


@dataclass(slots=True)
class _Cached:
    templates: list[Template]
    read_at: float


class TemplateCatalog:
    def __init__(
        self,
        *,
        social: EndUserMessagingSocialClient,
        ttl_s: float = 300.0,
        errors: CallErrors | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._social = social
        self._ttl_s = ttl_s
        self._errors = errors
        self._clock = clock
        self._numbers: dict[str, LinkedNumber] = {}
        self._templates: dict[str, _Cached] = {}
        # One read per account at a time: twenty agents typing /templates cost one listing.
        self._locks: dict[str, asyncio.Lock] = {}

    async def number(self, origination_id: str) -> LinkedNumber:
        known = self._numbers.get(origination_id)
        if known is not None:
            return known
        with translated(_SERVICE, "GetLinkedWhatsAppBusinessAccountPhoneNumber", self._errors):
            response = await self._social.get_linked_whatsapp_business_account_phone_number(
                id=origination_id
            )
        phone = response["phoneNumber"]
        linked = LinkedNumber(
            origination_id=phone.get("phoneNumberId") or origination_id,
            meta_phone_number_id=phone["metaPhoneNumberId"],
            waba_id=response["linkedWhatsAppBusinessAccountId"],
            display_phone_number=phone.get("displayPhoneNumber") or phone.get("phoneNumber"),
        )
        self._numbers[origination_id] = linked
        return linked

    async def templates(self, origination_id: str) -> list[Template]:
        """Every template of the number's account (any status), by name then language."""
        waba_id = (await self.number(origination_id)).waba_id
        lock = self._locks.setdefault(waba_id, asyncio.Lock())
        async with lock:
            cached = self._templates.get(waba_id)
            if cached is not None and self._clock.monotonic() - cached.read_at < self._ttl_s:
                return cached.templates
            templates = await self._read(waba_id)
            self._templates[waba_id] = _Cached(templates, self._clock.monotonic())
            return templates

    async def find(self, origination_id: str, name: str, language: str | None) -> list[Template]:
        """The templates called `name` (in `language` when given)."""
        return [
            template
            for template in await self.templates(origination_id)
            if template.name == name and (language is None or template.language == language)
        ]

    def forget(self) -> None:
        self._templates.clear()

    async def _read(self, waba_id: str) -> list[Template]:
        summaries: list[tuple[str, str, str]] = []
        token: str | None = None
        while True:
            with translated(_SERVICE, "ListWhatsAppMessageTemplates", self._errors):
                if token is None:
                    page = await self._social.list_whatsapp_message_templates(
                        id=waba_id, maxResults=_PAGE
                    )
                else:
                    page = await self._social.list_whatsapp_message_templates(
                        id=waba_id, maxResults=_PAGE, nextToken=token
                    )
            summaries += [
                (s["templateName"], s.get("templateLanguage", ""), s.get("templateStatus", ""))
                for s in page.get("templates", [])
                if "templateName" in s
            ]
            token = page.get("nextToken")
            if not token:
                break
        templates: list[Template] = []
        for name, language, status in summaries:
            template = await self._definition(waba_id, name, language, status)
            if template is not None:
                templates.append(template)
        templates.sort(key=lambda t: (t.name, t.language))
        log.info("templates_read", templates=len(templates))
        return templates

    async def _definition(
        self, waba_id: str, name: str, language: str, status: str
    ) -> Template | None:
        if status.upper() != "APPROVED":
            # Nobody can send it; its definition is not worth a call.
            return Template(name=name, language=language, category="", status=status)
        with translated(_SERVICE, "GetWhatsAppMessageTemplate", self._errors):
            response = await self._social.get_whatsapp_message_template(
                id=waba_id, templateName=name, templateLanguageCode=language
            )
        try:
            template = parse_definition(response["template"])
        except TemplateDefinitionError as exc:
            log.warning("template_unreadable", template=name, reason=str(exc))
            return None
        # The summary's language and status are authoritative for the send.
        return Template(
            name=template.name,
            language=language or template.language,
            category=template.category,
            status=status,
            header=template.header,
            body=template.body,
            footer=template.footer,
        )
