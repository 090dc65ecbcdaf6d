"""The customer: a WhatsApp user whose phone produces EUM Social events.

Each message becomes one EUM event (reference §3.1) published to the inbound topic: the
envelope's `whatsAppWebhookEntry` is a JSON *string* of one Meta `entry` whose change
`value` holds `metadata`, `contacts` and `messages`. Statuses for messages the bridge sent
come out the same way, with `value.statuses`.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from service.local.sim.clock import Clock, iso_ms, rfc3339_ns
from service.local.sim.config import SimConfig
from service.local.sim.errors import SandboxError
from service.local.sim.identity import BusinessDirectory, BusinessNumber
from service.local.sim.media import (
    DOCUMENT_LIMIT_BYTES,
    Media,
    MediaStore,
    Speech,
    inbound_limit_bytes,
)
from service.local.sim.meta_messages import MEDIA_TYPES, is_bsuid
from service.local.sim.whatsapp import Outbox, new_wamid
from service.local.sim.window import ServiceWindows

if TYPE_CHECKING:
    from types_aiobotocore_sns import SNSClient

_log = structlog.get_logger(__name__)

_WA_ID = re.compile(r"^\d{5,20}$")
# Keys of a sandbox message that steer the simulation instead of going into the event.
_OPTION_KEYS: Final = frozenset(
    {"profile_name", "username", "business", "bsuid", "bsuid_only", "id", "delay_ms", "timestamp"}
)
_DEFAULT_PROFILE_NAME: Final = "Sandbox Customer"
# Meta's titles for the error codes the bridge acts on (reference §3.2).
META_ERROR_TITLES: Final = {
    131000: "Something went wrong",
    131016: "Service unavailable",
    131021: "Recipient cannot be sender",
    131026: "Message undeliverable",
    131030: "Recipient phone number not in allowed list",
    131047: "Re-engagement message",
    131049: "This message was not delivered to maintain healthy ecosystem engagement",
    131050: "User has stopped receiving marketing messages",
    131051: "Unsupported message type",
    131052: "Media download error",
    131053: "Media upload error",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    130429: "Rate limit hit",
    131062: "Business-scoped user id recipients are not supported for this message",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
}
_GENERIC_TITLE: Final = "Message failed to send"
STATUSES: Final = ("sent", "delivered", "read", "failed")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the customer is on WhatsApp: a phone (`wa_id`), a BSUID, or both."""

    wa_id: str | None
    bsuid: str | None


@dataclass(frozen=True, slots=True)
class InboundRecord:
    message_id: str
    kind: str
    business: str
    time: float
    event_id: str
    # Who sent it (the id in the sandbox path: a wa_id or a BSUID), their profile name and
    # the WhatsApp message as published: what the playground's phone shows as sent.
    customer: str = ""
    profile_name: str = ""
    message: Mapping[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "type": self.kind,
            "businessPhoneNumberId": self.business,
            "time": iso_ms(self.time),
            "eventId": self.event_id,
            "customer": self.customer,
            "profileName": self.profile_name,
            "message": self.message,
        }


def resolve_identity(path_id: str, spec: Mapping[str, Any]) -> Identity:
    bsuid = spec.get("bsuid")
    if bsuid is not None and (not isinstance(bsuid, str) or not is_bsuid(bsuid)):
        raise SandboxError(400, "bsuid must look like CC.<alphanumerics>")
    if is_bsuid(path_id):
        return Identity(wa_id=None, bsuid=path_id)
    if not _WA_ID.match(path_id):
        raise SandboxError(400, "the customer id must be a wa_id (digits) or a BSUID")
    return Identity(wa_id=None if spec.get("bsuid_only") else path_id, bsuid=bsuid)


def eum_event(
    business: BusinessNumber, value: Mapping[str, Any], *, account_id: str, now: float
) -> dict[str, Any]:
    entry = {"id": business.waba_id, "changes": [{"field": "messages", "value": value}]}
    return {
        "context": {
            "MetaWabaIds": [{"wabaId": business.waba_id, "arn": business.waba_arn}],
            "MetaPhoneNumberIds": [
                {"metaPhoneNumberId": business.phone_number_id, "arn": business.arn}
            ],
        },
        "whatsAppWebhookEntry": json.dumps(entry, ensure_ascii=False),
        "aws_account_id": account_id,
        "message_timestamp": rfc3339_ns(now),
        "messageId": str(uuid.uuid4()),
    }


def _metadata(business: BusinessNumber) -> dict[str, str]:
    return {
        "display_phone_number": business.display_phone_number,
        "phone_number_id": business.phone_number_id,
    }


class CustomerPhone:
    def __init__(
        self,
        *,
        sns: SNSClient,
        directory: BusinessDirectory,
        media: MediaStore,
        outbox: Outbox,
        clock: Clock,
        config: SimConfig,
        account_id: str,
    ) -> None:
        self._sns = sns
        self._directory = directory
        self._media = media
        self._outbox = outbox
        self._clock = clock
        self._config = config
        self._account_id = account_id
        self._inbound: list[InboundRecord] = []
        # Set by the world: the customer's messages open WhatsApp's service window.
        self.windows: ServiceWindows | None = None

    def inbound(self) -> list[InboundRecord]:
        return list(self._inbound)

    def clear(self) -> None:
        self._inbound.clear()

    def upload_media(
        self, data: bytes, mime_type: str, filename: str | None, speech: Speech | None = None
    ) -> Media:
        if not data:
            raise SandboxError(400, "the media file is empty")
        if not mime_type or mime_type.startswith("application/x-www-form-urlencoded"):
            raise SandboxError(400, "send the file with its Content-Type")
        # Any file may travel as a document (up to 100 MB); the smaller limits of images,
        # audio, video and stickers are checked when it is sent as one (`_media_part`).
        if len(data) > DOCUMENT_LIMIT_BYTES:
            raise SandboxError(
                413, f"WhatsApp delivers at most {DOCUMENT_LIMIT_BYTES} bytes, not {len(data)}"
            )
        return self._media.add(data, mime_type, filename=filename, origin="customer", speech=speech)

    async def send_messages(self, path_id: str, specs: Sequence[Mapping[str, Any]]) -> list[str]:
        """Publish one EUM event per message, in order; `delay_ms` pauses before a message."""
        prepared = [self._prepare(path_id, spec) for spec in specs]
        ids: list[str] = []
        for spec, (business, value, message_id, kind) in zip(specs, prepared, strict=True):
            delay_ms = spec.get("delay_ms") or 0
            if delay_ms > 0:
                await asyncio.sleep(delay_ms / 1000)
            event = eum_event(business, value, account_id=self._account_id, now=self._clock.now())
            await self._publish(event)
            [sent] = value["messages"]
            if self.windows is not None:
                self.windows.customer_wrote(
                    business.phone_number_id,
                    (sent.get("from"), sent.get("from_user_id")),
                    float(sent["timestamp"]),
                )
            self._inbound.append(
                InboundRecord(
                    message_id,
                    kind,
                    business.phone_number_id,
                    self._clock.now(),
                    event["messageId"],
                    customer=path_id,
                    profile_name=value["contacts"][0]["profile"]["name"],
                    message=value["messages"][0],
                )
            )
            ids.append(message_id)
        return ids

    def _business(self, spec: Mapping[str, Any]) -> BusinessNumber:
        requested = spec.get("business")
        if requested is None:
            return self._directory.default
        number = self._directory.by_meta_id(str(requested))
        if number is None:
            raise SandboxError(404, "unknown business phone-number id")
        return number

    def _prepare(
        self, path_id: str, spec: Mapping[str, Any]
    ) -> tuple[BusinessNumber, dict[str, Any], str, str]:
        if not isinstance(spec, Mapping):
            raise SandboxError(400, "each message must be a JSON object")
        kind = spec.get("type")
        if not isinstance(kind, str) or not kind:
            raise SandboxError(400, "each message needs a type")
        delay_ms = spec.get("delay_ms", 0)
        if not isinstance(delay_ms, int) or isinstance(delay_ms, bool) or delay_ms < 0:
            raise SandboxError(400, "delay_ms must be a non-negative integer")
        identity = resolve_identity(path_id, spec)
        business = self._business(spec)
        message_id = spec.get("id") or new_wamid()
        timestamp = spec.get("timestamp") or int(self._clock.now())
        message: dict[str, Any] = {}
        if identity.wa_id is not None:
            message["from"] = identity.wa_id
        if identity.bsuid is not None:
            message["from_user_id"] = identity.bsuid
        message |= {"id": str(message_id), "timestamp": str(timestamp), "type": kind}
        message |= {key: value for key, value in spec.items() if key not in _OPTION_KEYS}
        if kind in MEDIA_TYPES:
            message[kind] = self._media_part(kind, message.get(kind))
        elif kind not in {"request_welcome", "unsupported"} and kind not in message:
            raise SandboxError(400, f"a {kind} message needs its {kind!r} part")
        profile: dict[str, str] = {"name": str(spec.get("profile_name") or _DEFAULT_PROFILE_NAME)}
        if spec.get("username"):
            profile["username"] = str(spec["username"])
        contact: dict[str, Any] = {"profile": profile}
        if identity.wa_id is not None:
            contact["wa_id"] = identity.wa_id
        if identity.bsuid is not None:
            contact["user_id"] = identity.bsuid
        value = {
            "messaging_product": "whatsapp",
            "metadata": _metadata(business),
            "contacts": [contact],
            "messages": [message],
        }
        return business, value, str(message_id), kind

    def _media_part(self, kind: str, part: object) -> dict[str, Any]:
        if not isinstance(part, Mapping) or not isinstance(part.get("id"), str):
            raise SandboxError(400, f"a {kind} message needs {kind}.id (an uploaded media id)")
        filled = dict(part)
        media = self._media.get(part["id"])
        if media is None:
            if "mime_type" not in part:
                raise SandboxError(404, f"unknown media id; upload it first ({kind})")
            return filled
        limit = None if kind == "document" else inbound_limit_bytes(media.mime_type, media.data)
        if limit is not None and len(media.data) > limit:
            raise SandboxError(
                413,
                f"WhatsApp delivers at most {limit} bytes of {media.mime_type} as {kind}, "
                f"not {len(media.data)}; send it as a document",
            )
        filled.setdefault("mime_type", media.mime_type)
        filled.setdefault("sha256", media.sha256)
        if kind == "document":
            filled.setdefault("filename", media.filename or f"{media.media_id}.bin")
        if kind == "audio":
            filled.setdefault("voice", media.mime_type.startswith("audio/ogg"))
        if kind == "sticker":
            filled.setdefault("animated", False)
        return filled

    async def report_status(
        self,
        message_id: str,
        status: str,
        *,
        error_code: int | None = None,
        error_title: str | None = None,
        error_details: str | None = None,
    ) -> dict[str, Any]:
        if status not in STATUSES:
            raise SandboxError(400, f"status must be one of {', '.join(STATUSES)}")
        entry = self._outbox.find(message_id)
        if entry is None:
            raise SandboxError(404, "no message with that id in the outbox")
        now = self._clock.now()
        item: dict[str, Any] = {"id": message_id, "status": status, "timestamp": str(int(now))}
        callback = entry.message.get("biz_opaque_callback_data")
        if isinstance(callback, str):
            item["biz_opaque_callback_data"] = callback  # Meta echoes it in every status
        if entry.recipient is not None and is_bsuid(entry.recipient):
            item["recipient_user_id"] = entry.recipient
        elif entry.recipient is not None:
            item["recipient_id"] = entry.recipient.lstrip("+")
        if status == "failed":
            code = error_code if error_code is not None else 131000
            title = error_title or META_ERROR_TITLES.get(code, _GENERIC_TITLE)
            item["errors"] = [
                {
                    "code": code,
                    "title": title,
                    "message": title,
                    "error_data": {"details": error_details or title},
                }
            ]
        else:
            item["pricing"] = {
                "billable": False,
                "pricing_model": "PMP",
                "category": "service",
                "type": "free_customer_service",
            }
        value = {
            "messaging_product": "whatsapp",
            "metadata": _metadata(entry.business),
            "statuses": [item],
        }
        event = eum_event(entry.business, value, account_id=self._account_id, now=now)
        await self._publish(event)
        return {"eventId": event["messageId"], "status": item}

    async def _publish(self, event: Mapping[str, Any]) -> None:
        try:
            await self._sns.publish(
                TopicArn=self._config.inbound_topic_arn,
                Message=json.dumps(event, ensure_ascii=False),
            )
        except (ClientError, BotoCoreError) as exc:
            _log.warning("sim_customer_publish_failed", error=type(exc).__name__)
            raise SandboxError(
                502, f"publishing to the inbound topic failed: {type(exc).__name__}"
            ) from exc
