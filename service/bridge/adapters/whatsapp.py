"""WhatsApp sends through AWS End User Messaging Social, with typed errors.

`SendWhatsAppMessage` takes Meta's message JSON as bytes and has no idempotency token of
its own: exactly-once for messages the customer would see twice is the caller's job
(idempotency claims). Read receipts and reactions are naturally idempotent on WhatsApp's
side (marking read twice, or setting the same reaction twice, changes nothing), so they
need no claim.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from service.call_errors import CallErrors
from service.errors import (
    BridgeError,
    ConfigurationError,
    DependencyUnavailableError,
    InvalidRequestError,
    ThrottledError,
)

if TYPE_CHECKING:
    from types_aiobotocore_socialmessaging import EndUserMessagingSocialClient

_TOO_MANY_REQUESTS = 429
_SERVER_ERROR = 500
_THROTTLING_WORDS = re.compile(r"thrott|toomanyrequests|limitexceeded|slowdown", re.IGNORECASE)
_META_CODE = re.compile(r"\(#(\d{1,7})\)|\bcode[\"':= ]+(\d{3,7})")


class WhatsAppSendError(InvalidRequestError):
    """EUM or Meta refused the message; `meta_code` when the error names one."""

    def __init__(self, message: str, *, meta_code: int | None) -> None:
        super().__init__(message)
        self.meta_code = meta_code


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


def meta_code(text: str) -> int | None:
    match = _META_CODE.search(text)
    if match is None:
        return None
    return int(match.group(1) or match.group(2))


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
        try:
            response = await self._social.send_whatsapp_message(
                originationPhoneNumberId=origination_id,
                message=json.dumps(body, ensure_ascii=False).encode(),
                metaApiVersion=self._version,
            )
        except ClientError as exc:
            error = _translate(exc)
            if self._errors is not None:
                code = exc.response.get("Error", {}).get("Code", "")
                meta = getattr(error, "meta_code", None)
                self._errors.record(
                    "socialmessaging", "SendWhatsAppMessage", f"{code}/{meta}" if meta else code
                )
            raise error from exc
        except BotoCoreError as exc:
            if self._errors is not None:
                self._errors.record("socialmessaging", "SendWhatsAppMessage", type(exc).__name__)
            raise DependencyUnavailableError(f"SendWhatsAppMessage: {type(exc).__name__}") from exc
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


_ERRORS_BY_CODE: Final[Mapping[str, type[BridgeError]]] = {
    "ThrottledRequestException": ThrottledError,
    "ValidationException": WhatsAppSendError,
    "InvalidParametersException": WhatsAppSendError,
    "AccessDeniedException": ConfigurationError,
    "ResourceNotFoundException": ConfigurationError,
    "AccessDeniedByMetaException": ConfigurationError,
    "InternalServiceException": DependencyUnavailableError,
    "DependencyException": DependencyUnavailableError,
}


def _error_class(code: str, status: int) -> type[BridgeError]:
    known = _ERRORS_BY_CODE.get(code)
    if known is not None:
        return known
    # A code this table does not know yet: judge it by its shape, so it never escapes as
    # a raw ClientError (which no caller handles) and never holds a send claim.
    if status == _TOO_MANY_REQUESTS or _THROTTLING_WORDS.search(code):
        return ThrottledError
    if status >= _SERVER_ERROR or not status:
        return DependencyUnavailableError
    return WhatsAppSendError


def _translate(exc: ClientError) -> BridgeError:
    code = exc.response.get("Error", {}).get("Code", "")
    text = str(exc.response.get("Error", {}).get("Message", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    what = f"SendWhatsAppMessage {code}"
    error_class = _error_class(code, status)
    if error_class is WhatsAppSendError:
        return WhatsAppSendError(f"{what}: {text[:200]}", meta_code=meta_code(text))
    if error_class is ConfigurationError:
        return ConfigurationError(f"{what}: check the origination phone number and IAM")
    return error_class(what)
