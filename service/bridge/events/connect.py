"""Typed parsing of Amazon Connect chat streaming events (reference §3.3).

Records arrive from SQS either as an SNS envelope (`Message` JSON string plus SNS
`MessageAttributes`) or, with raw message delivery, as the bare Connect item with the
attributes moved to SQS message attributes. Attributes and body fields carry the same
facts; the body wins where both exist because it is what Connect produced. Unknown
types and content types become `OtherEvent`: callers log and skip them.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.bridge.events import content_types as ct


class MalformedStreamingEventError(ValueError):
    """The record is not a Connect streaming event at all (not JSON, not an object)."""


class ParticipantRole(StrEnum):
    AGENT = "AGENT"
    CUSTOMER = "CUSTOMER"
    SYSTEM = "SYSTEM"
    CUSTOM_BOT = "CUSTOM_BOT"
    SUPERVISOR = "SUPERVISOR"


class Visibility(StrEnum):
    AGENT = "AGENT"
    CUSTOMER = "CUSTOMER"
    ALL = "ALL"


class MessageFormat(StrEnum):
    PLAIN = ct.PLAIN
    MARKDOWN = ct.MARKDOWN
    JSON = ct.JSON
    INTERACTIVE = ct.INTERACTIVE
    INTERACTIVE_RESPONSE = ct.INTERACTIVE_RESPONSE


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class EventBase(_Model):
    item_id: str | None
    initial_contact_id: str | None
    contact_id: str | None
    participant_role: ParticipantRole | str | None
    participant_id: str | None
    display_name: str | None
    visibility: Visibility | str | None
    absolute_time: str | None
    item_type: str | None
    content_type: str | None


class MessageEvent(EventBase):
    kind: Literal["message"] = "message"
    format: MessageFormat
    content: str


class Attachment(_Model):
    attachment_id: str = Field(alias="AttachmentId")
    name: str | None = Field(default=None, alias="AttachmentName")
    content_type: str | None = Field(default=None, alias="ContentType")
    status: str | None = Field(default=None, alias="Status")

    @property
    def approved(self) -> bool:
        return self.status == "APPROVED"


class AttachmentEvent(EventBase):
    kind: Literal["attachment"] = "attachment"
    attachments: tuple[Attachment, ...]


class TypingEvent(EventBase):
    kind: Literal["typing"] = "typing"


class ReceiptEvent(EventBase):
    kind: Literal["receipt"] = "receipt"
    receipt: Literal["delivered", "read"]
    message_id: str | None  # the Connect item id the receipt refers to


class ParticipantEvent(EventBase):
    kind: Literal["participant"] = "participant"
    action: str  # joined | left | idle | returned | … (suffix of the content type)


class ChatEndedEvent(EventBase):
    kind: Literal["chat_ended"] = "chat_ended"


class TransferSucceededEvent(EventBase):
    kind: Literal["transfer_succeeded"] = "transfer_succeeded"


class OtherEvent(EventBase):
    kind: Literal["other"] = "other"


ConnectEvent = (
    MessageEvent
    | AttachmentEvent
    | TypingEvent
    | ReceiptEvent
    | ParticipantEvent
    | ChatEndedEvent
    | TransferSucceededEvent
    | OtherEvent
)

_CUSTOMER_FACING: Final = frozenset({Visibility.CUSTOMER.value, Visibility.ALL.value})


def _load(raw: str | bytes | Mapping[str, Any], what: str) -> Mapping[str, Any]:
    if isinstance(raw, Mapping):
        return raw
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise MalformedStreamingEventError(f"{what} is not valid JSON") from exc
    if not isinstance(document, Mapping):
        raise MalformedStreamingEventError(f"{what} is not a JSON object")
    return document


def _attribute_values(attributes: Mapping[str, Any] | None) -> dict[str, str]:
    """Flatten SNS (`{"Type","Value"}`) and SQS (`{"DataType","StringValue"}`) attributes."""
    flat: dict[str, str] = {}
    for name, attribute in (attributes or {}).items():
        if isinstance(attribute, Mapping):
            value = attribute.get("Value", attribute.get("StringValue"))
        else:
            value = attribute
        if isinstance(value, str):
            flat[name] = value
    return flat


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _role(value: str | None) -> ParticipantRole | str | None:
    try:
        return ParticipantRole(value) if value else None
    except ValueError:
        return value


def _visibility(value: str | None) -> Visibility | str | None:
    try:
        return Visibility(value) if value else None
    except ValueError:
        return value


def _receipt_message_id(body: Mapping[str, Any]) -> str | None:
    content = body.get("Content")
    if isinstance(content, str):
        try:
            decoded = json.loads(content)
        except (ValueError, RecursionError):
            decoded = None
        if isinstance(decoded, Mapping) and _str(decoded.get("messageId")):
            return str(decoded["messageId"])
    metadata = body.get("MessageMetadata")
    if isinstance(metadata, Mapping):
        return _str(metadata.get("MessageId"))
    return None


_SIMPLE_EVENTS: Final[Mapping[str, type[TypingEvent | ChatEndedEvent | TransferSucceededEvent]]] = {
    ct.TYPING: TypingEvent,
    ct.CHAT_ENDED: ChatEndedEvent,
    ct.TRANSFER_SUCCEEDED: TransferSucceededEvent,
}
_RECEIPTS: Final[Mapping[str, Literal["delivered", "read"]]] = {
    ct.MESSAGE_DELIVERED: "delivered",
    ct.MESSAGE_READ: "read",
}


def _attachment_event(body: Mapping[str, Any], base: dict[str, Any]) -> ConnectEvent:
    try:
        attachments = tuple(Attachment.model_validate(a) for a in body.get("Attachments") or [])
    except (ValidationError, TypeError):
        return OtherEvent(**base)
    return AttachmentEvent(**base, attachments=attachments)


def _message_event(body: Mapping[str, Any], base: dict[str, Any]) -> ConnectEvent:
    content = body.get("Content")
    try:
        message_format = MessageFormat(base["content_type"])
    except ValueError:
        return OtherEvent(**base)
    if not isinstance(content, str):
        return OtherEvent(**base)
    return MessageEvent(**base, format=message_format, content=content)


def _classify(body: Mapping[str, Any], base: dict[str, Any]) -> ConnectEvent:
    item_type = base["item_type"]
    content_type = base["content_type"] or ""
    if item_type == "ATTACHMENT" or ("Attachments" in body and item_type != "EVENT"):
        return _attachment_event(body, base)
    if item_type == "MESSAGE" or (item_type is None and "Content" in body):
        return _message_event(body, base)
    simple = _SIMPLE_EVENTS.get(content_type)
    if simple is not None:
        return simple(**base)
    if content_type in _RECEIPTS:
        message_id = _receipt_message_id(body)
        return ReceiptEvent(**base, receipt=_RECEIPTS[content_type], message_id=message_id)
    if content_type.startswith(ct.PARTICIPANT_PREFIX):
        action = content_type.removeprefix(ct.PARTICIPANT_PREFIX)
        return ParticipantEvent(**base, action=action)
    return OtherEvent(**base)


def parse_streaming_record(
    body: str | bytes | Mapping[str, Any],
    *,
    message_attributes: Mapping[str, Any] | None = None,
) -> ConnectEvent:
    """Parse an SQS body (SNS envelope or raw delivery) into a typed Connect event.

    `message_attributes` are the SQS message attributes, used with raw delivery.
    """
    document = _load(body, "record body")
    attributes = _attribute_values(message_attributes)
    if document.get("Type") == "Notification" and "Message" in document:
        attributes = {**attributes, **_attribute_values(document.get("MessageAttributes"))}
        message = document["Message"]
        document = _load(message, "SNS Message") if not isinstance(message, Mapping) else message

    def pick(field: str) -> str | None:
        return _str(document.get(field)) or attributes.get(field)

    base: dict[str, Any] = {
        "item_id": _str(document.get("Id")),
        "initial_contact_id": pick("InitialContactId"),
        "contact_id": pick("ContactId"),
        "participant_role": _role(pick("ParticipantRole")),
        "participant_id": _str(document.get("ParticipantId")),
        "display_name": _str(document.get("DisplayName")),
        "visibility": _visibility(pick("MessageVisibility")),
        "absolute_time": _str(document.get("AbsoluteTime")),
        "item_type": pick("Type"),
        "content_type": pick("ContentType"),
    }
    return _classify(document, base)


def should_forward(event: ConnectEvent, *, forward_system: bool, forward_bots: bool) -> bool:
    """True if the event is something the WhatsApp customer should receive.

    Content (messages, attachments), typing and receipts qualify when Connect marks
    them visible to the customer (a missing visibility counts as visible: raw delivery
    without attributes) and they do not come from the customer itself. Flow/system
    messages and bot messages are configurable. Lifecycle events are not forwarded:
    they drive the session, not the conversation.
    """
    if not isinstance(event, MessageEvent | AttachmentEvent | TypingEvent | ReceiptEvent):
        return False
    if event.visibility is not None and event.visibility not in _CUSTOMER_FACING:
        return False
    if isinstance(event, MessageEvent) and event.format is MessageFormat.INTERACTIVE_RESPONSE:
        return False  # the customer's own choice echoed back
    senders: dict[str | None, bool] = {
        ParticipantRole.AGENT: True,
        ParticipantRole.SUPERVISOR: True,
        ParticipantRole.SYSTEM: forward_system,
        ParticipantRole.CUSTOM_BOT: forward_bots,
    }
    return senders.get(event.participant_role, False)


@dataclass(frozen=True, slots=True)
class AgentItem:
    """A Connect event for one customer's chat, as it travels the customer's lane.

    The outbound queue writes the record as it came (`payload`, `attributes`) under the
    customer's key; the owner of the customer's shard parses it again (`event`), so the
    stored form is exactly what Connect sent and the parser stays the one place that reads
    it. `key` names the Connect item (its Id, else the SNS message id): the idempotency key
    of every effect it has.
    """

    customer_key: str
    key: str
    payload: str
    attributes: Mapping[str, str]
    event: ConnectEvent

    @property
    def order_key(self) -> float:
        """The agent's clock; an item without one goes after the timed ones."""
        value = self.event.absolute_time
        if value:
            try:
                return datetime.fromisoformat(value).timestamp()
            except ValueError:
                pass
        return float("inf")

    @classmethod
    def of(
        cls, *, customer_key: str, key: str, payload: str, attributes: Mapping[str, str]
    ) -> Self:
        event = parse_streaming_record(payload, message_attributes=attributes)
        return cls(customer_key, key, payload, dict(attributes), event)
