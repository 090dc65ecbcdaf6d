"""WhatsApp sends through AWS End User Messaging Social, with typed errors.

`SendWhatsAppMessage` takes Meta's message JSON as bytes and has no idempotency token of
its own: exactly-once for messages the customer would see twice is the caller's job
(idempotency claims). Read receipts and reactions are naturally idempotent on WhatsApp's
side (marking read twice, or setting the same reaction twice, changes nothing), so they
need no claim.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from service.aws_errors import translated
from service.call_errors import CallErrors
from service.errors import InvalidRequestError

if TYPE_CHECKING:
    from types_aiobotocore_socialmessaging import EndUserMessagingSocialClient

_SERVICE: Final = "socialmessaging"


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who to send to: the phone number when known, else the business-scoped user id."""

    wa_id: str | None
    bsuid: str | None

    def fields(self) -> dict[str, str]:
        if self.wa_id:
            return {"recipient_type": "individual", "to": self.wa_id}
        if self.bsuid:
            return {"recipient_type": "individual", "recipient": self.bsuid}
        raise InvalidRequestError("a WhatsApp recipient needs a phone number or a BSUID")


class WhatsAppClient:
    def __init__(
        self,
        *,
        social: EndUserMessagingSocialClient,
        meta_api_version: str,
        errors: CallErrors | None = None,
    ) -> None:
        self._social = social
        self._version = meta_api_version
        self._errors = errors

    async def send(self, *, origination_id: str, message: Mapping[str, Any]) -> str:
        """Send one Meta message object; returns the WhatsApp message id."""
        body = {"messaging_product": "whatsapp", **message}
        with translated(_SERVICE, "SendWhatsAppMessage", self._errors):
            response = await self._social.send_whatsapp_message(
                originationPhoneNumberId=origination_id,
                message=json.dumps(body, ensure_ascii=False).encode(),
                metaApiVersion=self._version,
            )
        return response["messageId"]

    async def mark_read(
        self, *, origination_id: str, message_id: str, typing: bool = False
    ) -> None:
        """Blue ticks on `message_id` and every earlier message; optionally 'typing…'."""
        message: dict[str, Any] = {"status": "read", "message_id": message_id}
        if typing:
            message["typing_indicator"] = {"type": "text"}
        await self.send(origination_id=origination_id, message=message)

    async def react(
        self, *, origination_id: str, recipient: Recipient, message_id: str, emoji: str
    ) -> None:
        await self.send(
            origination_id=origination_id,
            message={
                **recipient.fields(),
                "type": "reaction",
                "reaction": {"message_id": message_id, "emoji": emoji},
            },
        )
