"""Outreach: the business writes first, with an approved template, and the reply opens a chat
that says which outreach it answers.

Replaces the sample's separate agent-initiated stack (which sent one fixed template and
left the reply to start an unrelated chat). A request names the business number (its EUM
id), the customer (phone number or BSUID), the template and its parameters. The send is
checked against the template (as an agent's `/template` is), claimed under the outreach
id (a retried request sends nothing twice and answers the same), paced like every send,
and remembered as an `outreach#` record under the customer's key, which the chat the
reply opens reads into its contact attributes (`flows.deliver`). A customer with a live
chat is refused: the agent of that chat reaches them with `/template`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from service.bridge.adapters.claims import Claim, ClaimState
from service.bridge.adapters.sessions import Outreach, Session
from service.bridge.adapters.templates import LinkedNumber
from service.bridge.adapters.whatsapp import Recipient
from service.bridge.flows.templates import Refusal, TemplateSends
from service.bridge.policy.pacing import Reservation
from service.clock import SYSTEM_CLOCK, Clock
from service.errors import PermanentError, RetryableError, WhatsAppSendError
from service.redaction import mask

log = structlog.get_logger(__name__)

_PHONE = re.compile(r"^\+?[1-9]\d{6,14}$")
_BSUID = re.compile(r"^[A-Z]{2}\.[A-Za-z0-9]{6,}$")


class OutreachRefusedError(Exception):
    """The outreach cannot be sent; `status` is the HTTP status the admin API answers."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class OutreachRequest:
    business: str  # EUM origination id (`phone-number-id-…`) or the number's ARN
    to: str  # phone number (E.164) or BSUID
    template: str
    language: str | None = None
    parameters: tuple[str, ...] = ()
    outreach_id: str | None = None  # the caller's idempotency key; generated if absent
    requested_by: str | None = None


class Numbers(Protocol):
    async def number(self, origination_id: str) -> LinkedNumber: ...


class OutreachSessions(Protocol):
    async def get(self, customer_key: str) -> Session | None: ...

    async def record_outreach(self, outreach: Outreach, *, expires_at: int) -> None: ...


class OutreachClaims(Protocol):
    async def claim(self, key: str) -> Claim: ...

    async def complete(self, key: str, *, whatsapp_message_id: str | None) -> None: ...

    async def release(self, key: str) -> None: ...


class OutreachSender(Protocol):
    async def send(self, *, origination_id: str, message: dict[str, Any]) -> str: ...


class OutreachPacer(Protocol):
    def reserve(self, business: str, customer_key: str) -> Reservation: ...


class Outreaches:
    def __init__(
        self,
        *,
        numbers: Numbers,
        templates: TemplateSends,
        sessions: OutreachSessions,
        claims: OutreachClaims,
        whatsapp: OutreachSender,
        pacer: OutreachPacer,
        ttl_s: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._numbers = numbers
        self._templates = templates
        self._sessions = sessions
        self._claims = claims
        self._whatsapp = whatsapp
        self._pacer = pacer
        self._ttl_s = ttl_s
        self._clock = clock

    async def send(self, request: OutreachRequest) -> dict[str, Any]:
        """Send the template; what an operator may see of it (identities masked)."""
        recipient, identity = _recipient(request.to)
        try:
            number = await self._numbers.number(request.business)
        except PermanentError as exc:
            # Not found, or not even the form of a number id (EUM refuses it as invalid).
            raise OutreachRefusedError(404, "no such WhatsApp business number") from exc
        except RetryableError as exc:
            raise OutreachRefusedError(503, "EUM Social does not answer; try again") from exc
        customer_key = f"{number.meta_phone_number_id}#{identity}"
        if await self._sessions.get(customer_key) is not None:
            raise OutreachRefusedError(
                409, "the customer has a live chat; its agent can send a template with /template"
            )
        ready = await self._templates.outreach(
            number.origination_id, request.template, request.language, request.parameters
        )
        if isinstance(ready, Refusal):
            # The request is well formed; it does not fit the template as Meta holds it.
            raise OutreachRefusedError(409, ready.reason)
        outreach_id = request.outreach_id or str(uuid.uuid4())
        key = f"outreach#{outreach_id}"
        claim = await self._claims.claim(key)
        if claim.state is ClaimState.IN_PROGRESS:
            raise OutreachRefusedError(409, "this outreach is being sent right now")
        wamid = claim.whatsapp_message_id
        if claim.state is ClaimState.CLAIMED:
            wamid = await self._send(number, recipient, customer_key, key, ready.message_fields())
            sent_at = int(self._clock.time())
            await self._sessions.record_outreach(
                Outreach(
                    outreach_id=outreach_id,
                    customer_key=customer_key,
                    template=ready.template.name,
                    language=ready.template.language,
                    whatsapp_message_id=wamid,
                    sent_at=sent_at,
                    requested_by=request.requested_by,
                ),
                expires_at=sent_at + int(self._ttl_s),
            )
            await self._claims.complete(key, whatsapp_message_id=wamid)
            log.info("outreach_sent", template=ready.template.name)
        return {
            "outreach_id": outreach_id,
            "whatsapp_message_id": wamid,
            "customer": mask(identity),
            "business_phone_number_id": number.meta_phone_number_id,
            "template": ready.template.name,
            "language": ready.template.language,
            "text": ready.rendered,
            "already_sent": claim.state is ClaimState.SENT,
        }

    async def _send(
        self,
        number: LinkedNumber,
        recipient: Recipient,
        customer_key: str,
        key: str,
        fields: dict[str, Any],
    ) -> str:
        reservation = self._pacer.reserve(number.meta_phone_number_id, customer_key)
        if not reservation.admitted:
            await self._claims.release(key)
            raise OutreachRefusedError(429, "the business number is sending at its limit")
        try:
            if reservation.wait_s > 0:
                await self._clock.sleep(reservation.wait_s)
            return await self._whatsapp.send(
                origination_id=number.origination_id, message={**recipient.fields(), **fields}
            )
        except WhatsAppSendError as exc:
            await self._claims.release(key)
            raise OutreachRefusedError(
                409, f"WhatsApp refused the template (code {exc.meta_code})"
            ) from exc
        except BaseException:
            # Not sent: a retry of the same outreach id may send it.
            await self._claims.release(key)
            raise


def _recipient(to: str) -> tuple[Recipient, str]:
    """Who to send to, and the identity their customer key is made of (DESIGN §4)."""
    value = to.strip()
    if _BSUID.match(value):
        return Recipient(wa_id=None, bsuid=value), value
    digits = value.lstrip("+")
    if _PHONE.match(value):
        return Recipient(wa_id=digits, bsuid=None), digits
    raise OutreachRefusedError(409, "`to` must be a phone number in E.164 form or a BSUID")
