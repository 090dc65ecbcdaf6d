"""WhatsApp message templates of the simulated business account, and the three EUM Social
operations that read them: `ListWhatsAppMessageTemplates`, `GetWhatsAppMessageTemplate`
and `GetLinkedWhatsAppBusinessAccountPhoneNumber` (which names a number's account).

Definitions are Meta's Graph API template objects, as EUM returns them (a JSON string).
A template send is checked as Meta checks it, after accepting it: an unknown or unapproved
template fails with 132001, a parameter count that differs from the placeholders with
132000 (`check_send`); a valid one is rendered, so the customer's phone shows its words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from service.local.sim.errors import AwsError
from service.local.sim.identity import BusinessDirectory, BusinessNumber
from service.local.sim.paging import decode_offset, encode_offset

TEMPLATE_NOT_FOUND: Final = 132001
PARAMETER_MISMATCH: Final = 132000
_NOT_FOUND: Final = "ResourceNotFoundException"
_INVALID: Final = "InvalidParametersException"
_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
_DEFAULT_PAGE: Final = 50


@dataclass(slots=True)
class SimTemplate:
    name: str
    language: str
    category: str
    status: str
    components: list[dict[str, Any]]
    meta_template_id: str = ""
    quality: str = "GREEN"

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "language": self.language,
            "status": self.status,
            "category": self.category,
            "id": self.meta_template_id,
            "parameter_format": "POSITIONAL",
            "components": self.components,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "templateName": self.name,
            "metaTemplateId": self.meta_template_id,
            "templateStatus": self.status,
            "templateQualityScore": self.quality,
            "templateLanguage": self.language,
            "templateCategory": self.category,
        }

    def _text(self, kind: str) -> str:
        for component in self.components:
            if str(component.get("type", "")).upper() == kind and isinstance(
                component.get("text"), str
            ):
                return str(component["text"])
        return ""

    def placeholders(self, kind: str) -> int:
        return max((int(n) for n in _PLACEHOLDER.findall(self._text(kind))), default=0)

    def rendered(self, header: Sequence[str], body: Sequence[str]) -> str:
        def fill(text: str, values: Sequence[str]) -> str:
            return _PLACEHOLDER.sub(
                lambda m: values[int(m.group(1)) - 1] if int(m.group(1)) <= len(values) else "",
                text,
            )

        parts = (fill(self._text("HEADER"), header), fill(self._text("BODY"), body))
        return "\n".join(part for part in (*parts, self._text("FOOTER")) if part)


def _body(text: str, example: list[str]) -> dict[str, Any]:
    component: dict[str, Any] = {"type": "BODY", "text": text}
    if example:
        component["example"] = {"body_text": [example]}
    return component


def seeded() -> list[SimTemplate]:
    """What the default business account has at start and after `/sandbox/reset`."""
    return [
        SimTemplate(
            "reengage",
            "en_US",
            "UTILITY",
            "APPROVED",
            [
                _body(
                    "Hello {{1}}, {{2}} from our team has replied to your message. Reply to "
                    "this message to continue the conversation.",
                    ["Ana", "Sam"],
                ),
                {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Continue"}]},
            ],
            "1001",
        ),
        SimTemplate(
            "reengage",
            "es_MX",
            "UTILITY",
            "APPROVED",
            [
                _body(
                    "Hola {{1}}, {{2}} de nuestro equipo respondió a tu mensaje. Responde a "
                    "este mensaje para continuar.",
                    ["Ana", "Sam"],
                )
            ],
            "1002",
        ),
        SimTemplate(
            "order_update",
            "en_US",
            "UTILITY",
            "APPROVED",
            [
                {
                    "type": "HEADER",
                    "format": "TEXT",
                    "text": "Order {{1}}",
                    "example": {"header_text": ["A-123"]},
                },
                _body("Your order {{1}} is {{2}}.", ["A-123", "shipped"]),
                {"type": "FOOTER", "text": "Reply STOP to opt out"},
            ],
            "1003",
        ),
        SimTemplate(
            "welcome",
            "en_US",
            "MARKETING",
            "APPROVED",
            [_body("Welcome to our store! How can we help?", [])],
            "1004",
        ),
        SimTemplate(
            "spring_sale",
            "en_US",
            "MARKETING",
            "PENDING",
            [_body("Spring sale: {{1}} off", ["20%"])],
            "1005",
        ),
    ]


@dataclass(frozen=True, slots=True)
class TemplateCheck:
    """A template send as Meta judges it: the error code it will fail with, or its text."""

    error_code: int | None
    rendered: str | None = None


@dataclass(slots=True)
class TemplateBook:
    """Every business account's templates, by the account's EUM WABA id."""

    directory: BusinessDirectory
    _by_waba: dict[str, list[SimTemplate]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._by_waba = {_waba_hex(self.directory.default.waba_arn): seeded()}

    def add(self, waba: str, template: SimTemplate) -> None:
        templates = self._by_waba.setdefault(_waba_hex(waba), [])
        templates[:] = [
            t for t in templates if (t.name, t.language) != (template.name, template.language)
        ]
        if not template.meta_template_id:
            template.meta_template_id = str(2000 + sum(len(v) for v in self._by_waba.values()))
        templates.append(template)

    def all(self) -> dict[str, list[dict[str, Any]]]:
        return {
            waba: [t.definition() for t in templates] for waba, templates in self._by_waba.items()
        }

    def _account(self, waba: str) -> list[SimTemplate]:
        templates = self._by_waba.get(_waba_hex(waba))
        if templates is None:
            raise AwsError(_NOT_FOUND, "The WhatsApp Business Account was not found")
        return templates

    # ------------------------------------------------------------ the EUM operations

    async def list_whatsapp_message_templates(self, params: dict[str, Any]) -> dict[str, Any]:
        templates = self._account(params["id"])
        start = decode_offset(params.get("nextToken"), error_code=_INVALID)
        size = int(params.get("maxResults") or _DEFAULT_PAGE)
        page = templates[start : start + size]
        answer: dict[str, Any] = {"templates": [t.summary() for t in page]}
        if start + size < len(templates):
            answer["nextToken"] = encode_offset(start + size)
        return answer

    async def get_whatsapp_message_template(self, params: dict[str, Any]) -> dict[str, Any]:
        templates = self._account(params["id"])
        meta_id = params.get("metaTemplateId")
        name, language = params.get("templateName"), params.get("templateLanguageCode")
        if meta_id is None and name is None:
            raise AwsError(_INVALID, "Either metaTemplateId or templateName is required")
        for template in templates:
            if (meta_id is not None and template.meta_template_id == meta_id) or (
                meta_id is None
                and template.name == name
                and (language is None or template.language == language)
            ):
                return {"template": json.dumps(template.definition(), ensure_ascii=False)}
        raise AwsError(_NOT_FOUND, "The template was not found")

    async def get_linked_whatsapp_business_account_phone_number(
        self, params: dict[str, Any]
    ) -> dict[str, Any]:
        number = self.directory.by_origination(params["id"])
        if number is None:
            raise AwsError(_NOT_FOUND, "The phone number was not found")
        return {
            "phoneNumber": {
                "arn": number.arn,
                "phoneNumber": "+" + number.display_phone_number.lstrip("+"),
                "phoneNumberId": number.eum_id,
                "metaPhoneNumberId": number.phone_number_id,
                "displayPhoneNumberName": "Sandbox Store",
                "displayPhoneNumber": number.display_phone_number,
                "qualityRating": "GREEN",
            },
            "linkedWhatsAppBusinessAccountId": "waba-" + _waba_hex(number.waba_arn),
        }

    # ------------------------------------------------------------ sends

    def check_send(self, business: BusinessNumber, template: Mapping[str, Any]) -> TemplateCheck:
        """How Meta will judge a `type: template` send from `business` (already shape-checked)."""
        name = template.get("name")
        language = (template.get("language") or {}).get("code")
        found = next(
            (
                t
                for t in self._by_waba.get(_waba_hex(business.waba_arn), [])
                if t.name == name and t.language == language
            ),
            None,
        )
        if found is None or found.status != "APPROVED":
            return TemplateCheck(TEMPLATE_NOT_FOUND)
        given: dict[str, list[str]] = {"HEADER": [], "BODY": []}
        for component in template.get("components") or ():
            kind = str(component.get("type", "")).upper()
            if kind in given:
                given[kind] = [str(p.get("text", "")) for p in component.get("parameters") or ()]
        if any(len(given[kind]) != found.placeholders(kind) for kind in given):
            return TemplateCheck(PARAMETER_MISMATCH)
        return TemplateCheck(None, found.rendered(given["HEADER"], given["BODY"]))


def _waba_hex(waba: str) -> str:
    """`waba-<hex>`, the ARN `…:waba/<hex>` or the bare hex: the account's EUM id."""
    if waba.startswith("waba-"):
        return waba[len("waba-") :]
    return waba.rsplit("/", 1)[-1]
