"""Typed parsing of End User Messaging Social events (WhatsApp webhooks relayed over SNS).

Wire format: reference `wire-formats-and-anchors.md` §3.1. One EUM envelope carries
one Meta `entry` (as a JSON string) whose changes hold inbound `messages` and/or
`statuses` for our own outbound messages. Unknown fields are ignored and unknown
message types become `unsupported` messages, so a new Meta feature never crashes the
intake; only an envelope we cannot attribute to a business number and a customer is
rejected, with a reason that carries no personal data.
"""

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

COMPACT_VERSION: Final = 1


class MalformedEventError(ValueError):
    """The event cannot be parsed; `reason` is safe to log (no ids, numbers or text)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class MessageType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACTS = "contacts"
    INTERACTIVE = "interactive"
    BUTTON = "button"
    REACTION = "reaction"
    ORDER = "order"
    SYSTEM = "system"
    REQUEST_WELCOME = "request_welcome"
    UNSUPPORTED = "unsupported"


MEDIA_TYPES: Final = frozenset(
    {MessageType.IMAGE, MessageType.VIDEO, MessageType.AUDIO, MessageType.DOCUMENT}
)


# ---------------------------------------------------------------- payloads
# Each payload has a `kind` discriminator with a default, so the same class reads
# Meta's wire object (which has no `kind`) and our compact form (which has it).


class TextPayload(_Model):
    kind: Literal["text"] = "text"
    body: str


class MediaPayload(_Model):
    kind: Literal["media"] = "media"
    id: str
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None
    voice: bool = False
    animated: bool = False


class LocationPayload(_Model):
    kind: Literal["location"] = "location"
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None


class ContactName(_Model):
    formatted_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None


class ContactPhone(_Model):
    phone: str | None = None
    wa_id: str | None = None
    type: str | None = None


class ContactEmail(_Model):
    email: str | None = None
    type: str | None = None


class ContactOrg(_Model):
    company: str | None = None
    department: str | None = None
    title: str | None = None


class ContactCard(_Model):
    name: ContactName = ContactName()
    phones: tuple[ContactPhone, ...] = ()
    emails: tuple[ContactEmail, ...] = ()
    org: ContactOrg | None = None

    @property
    def display_name(self) -> str | None:
        parts = [p for p in (self.name.first_name, self.name.last_name) if p]
        return self.name.formatted_name or (" ".join(parts) if parts else None)


class ContactsPayload(_Model):
    kind: Literal["contacts"] = "contacts"
    cards: tuple[ContactCard, ...] = ()


class InteractiveReplyPayload(_Model):
    kind: Literal["interactive"] = "interactive"
    reply_type: str
    id: str | None = None
    title: str | None = None
    description: str | None = None
    response_json: str | None = None  # nfm_reply (WhatsApp Flows): the form's answers
    flow_name: str | None = None


class ButtonPayload(_Model):
    kind: Literal["button"] = "button"
    text: str
    payload: str | None = None


class ReactionPayload(_Model):
    kind: Literal["reaction"] = "reaction"
    message_id: str
    emoji: str | None = None

    @property
    def removed(self) -> bool:
        return not self.emoji


class OrderItem(_Model):
    product_retailer_id: str
    quantity: int = 1
    item_price: float | None = None
    currency: str | None = None


class OrderPayload(_Model):
    kind: Literal["order"] = "order"
    catalog_id: str | None = None
    product_items: tuple[OrderItem, ...] = ()
    text: str | None = None


class SystemPayload(_Model):
    kind: Literal["system"] = "system"
    body: str | None = None
    type: str | None = None
    wa_id: str | None = None
    user_id: str | None = None


class UnsupportedPayload(_Model):
    kind: Literal["unsupported"] = "unsupported"
    type: str | None = None


Payload = Annotated[
    TextPayload
    | MediaPayload
    | LocationPayload
    | ContactsPayload
    | InteractiveReplyPayload
    | ButtonPayload
    | ReactionPayload
    | OrderPayload
    | SystemPayload
    | UnsupportedPayload,
    Field(discriminator="kind"),
]


class ReplyContext(_Model):
    message_id: str | None = Field(default=None, alias="id")
    from_: str | None = Field(default=None, alias="from")
    forwarded: bool = False
    frequently_forwarded: bool = False


class Referral(_Model):
    source_url: str | None = None
    source_id: str | None = None
    source_type: str | None = None
    headline: str | None = None
    body: str | None = None
    media_type: str | None = None
    ctwa_clid: str | None = None


class MetaErrorData(_Model):
    details: str | None = None


class MetaError(_Model):
    code: int
    title: str | None = None
    message: str | None = None
    error_data: MetaErrorData | None = None

    @property
    def details(self) -> str | None:
        return self.error_data.details if self.error_data else None


# ---------------------------------------------------------------- typed results


class BusinessNumber(_Model):
    phone_number_id: str  # Meta's id (`metadata.phone_number_id`)
    arn: str  # EUM phone-number ARN
    origination_id: str  # `phone-number-id-<hex>`, accepted by SendWhatsAppMessage
    waba_id: str | None = None
    display_phone_number: str | None = None


class Customer(_Model):
    wa_id: str | None = None
    bsuid: str | None = None  # business-scoped user id (`CC.<alnum>`), 2026 usernames
    parent_bsuid: str | None = None
    profile_name: str | None = None
    username: str | None = None

    def key_for(self, business_phone_number_id: str) -> str:
        """DESIGN §4: business number + BSUID when present, else wa_id."""
        identity = self.bsuid or self.wa_id
        if not identity:
            raise MalformedEventError("customer has neither a user id nor a wa_id")
        return f"{business_phone_number_id}#{identity}"


class InboundMessage(_Model):
    business: BusinessNumber
    customer: Customer
    customer_key: str
    message_id: str
    timestamp: int
    type: MessageType
    wire_type: str  # Meta's `type` verbatim; differs from `type` for unknown types
    payload: Payload | None = None
    context: ReplyContext | None = None
    referral: Referral | None = None
    errors: tuple[MetaError, ...] = ()
    # When EUM published the event (its `message_timestamp`, nanoseconds). WhatsApp's own
    # timestamp has 1 s resolution; this orders messages sent within the same second.
    published_at_ns: int | None = None

    @property
    def order_key(self) -> tuple[int, int]:
        return (self.timestamp, self.published_at_ns or 0)


class StatusUpdate(_Model):
    business: BusinessNumber
    message_id: str
    status: str  # sent | delivered | read | played | failed (kept open for new values)
    timestamp: int
    recipient_id: str | None = None
    recipient_user_id: str | None = None
    errors: tuple[MetaError, ...] = ()
    biz_opaque_callback_data: str | None = None
    conversation_id: str | None = None
    pricing_category: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == "failed"


class ParsedEvent(_Model):
    messages: tuple[InboundMessage, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()
    ignored_changes: int = 0  # changes of other webhook fields (templates, account…)


# ---------------------------------------------------------------- wire models


class _PhoneNumberRef(_Model):
    meta_phone_number_id: str = Field(alias="metaPhoneNumberId")
    arn: str


class _WabaRef(_Model):
    waba_id: str = Field(alias="wabaId")
    arn: str | None = None


class _Context(_Model):
    phone_numbers: tuple[_PhoneNumberRef, ...] = Field(default=(), alias="MetaPhoneNumberIds")
    wabas: tuple[_WabaRef, ...] = Field(default=(), alias="MetaWabaIds")


class _Envelope(_Model):
    context: _Context
    entry: str | dict[str, Any] = Field(alias="whatsAppWebhookEntry")
    message_timestamp: str | None = None


class _Profile(_Model):
    name: str | None = None
    username: str | None = None


class _WireContact(_Model):
    profile: _Profile = _Profile()
    wa_id: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None


class _Metadata(_Model):
    phone_number_id: str
    display_phone_number: str | None = None


class _ButtonReply(_Model):
    id: str | None = None
    title: str | None = None
    description: str | None = None


class _NfmReply(_Model):
    response_json: str | None = None
    name: str | None = None
    body: str | None = None


class _WireInteractive(_Model):
    type: str
    button_reply: _ButtonReply | None = None
    list_reply: _ButtonReply | None = None
    nfm_reply: _NfmReply | None = None


class _WireMessage(_Model):
    from_: str | None = Field(default=None, alias="from")
    from_user_id: str | None = None
    from_parent_user_id: str | None = None
    id: str
    timestamp: int
    type: str
    text: TextPayload | None = None
    image: MediaPayload | None = None
    video: MediaPayload | None = None
    audio: MediaPayload | None = None
    document: MediaPayload | None = None
    sticker: MediaPayload | None = None
    location: LocationPayload | None = None
    contacts: tuple[ContactCard, ...] | None = None
    interactive: _WireInteractive | None = None
    button: ButtonPayload | None = None
    reaction: ReactionPayload | None = None
    order: OrderPayload | None = None
    system: SystemPayload | None = None
    unsupported: UnsupportedPayload | None = None
    context: ReplyContext | None = None
    referral: Referral | None = None
    errors: tuple[MetaError, ...] = ()


class _Conversation(_Model):
    id: str | None = None


class _Pricing(_Model):
    category: str | None = None


class _WireStatus(_Model):
    id: str
    status: str
    timestamp: int
    recipient_id: str | None = None
    recipient_user_id: str | None = None
    errors: tuple[MetaError, ...] = ()
    biz_opaque_callback_data: str | None = None
    conversation: _Conversation | None = None
    pricing: _Pricing | None = None


class _Value(_Model):
    metadata: _Metadata
    contacts: tuple[_WireContact, ...] = ()
    messages: tuple[_WireMessage, ...] = ()
    statuses: tuple[_WireStatus, ...] = ()


class _Change(_Model):
    field: str
    value: dict[str, Any] = {}


class _Entry(_Model):
    id: str | None = None
    changes: tuple[_Change, ...] = ()


# ---------------------------------------------------------------- parsing


def _safe_reason(prefix: str, exc: ValidationError) -> str:
    # Field paths and error types only: pydantic's own message would echo the input.
    first = exc.errors(include_input=False, include_url=False, include_context=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "<root>"
    return f"{prefix}: {first['type']} at {where} ({exc.error_count()} error(s))"


def _load_json(raw: str | bytes, what: str) -> Any:
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedEventError(f"{what} is not valid JSON") from exc
    except RecursionError as exc:
        raise MalformedEventError(f"{what} is nested too deeply") from exc
    if isinstance(raw, str) and "\\ud" in raw.lower():
        # JSON may escape half of a surrogate pair; the str it decodes to cannot be encoded
        # as UTF-8, which every later hop (DynamoDB, Connect) needs.
        document = _without_lone_surrogates(document)
    return document


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_without_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    return value


def _unwrap(raw: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    document = _load_json(raw, "event") if isinstance(raw, str | bytes) else raw
    if not isinstance(document, Mapping):
        raise MalformedEventError("event is not a JSON object")
    # Tolerate being handed the whole SNS notification instead of its Message.
    if document.get("Type") == "Notification" and isinstance(document.get("Message"), str):
        return _unwrap(document["Message"])
    return document


def origination_id_from_arn(arn: str) -> str:
    """`arn:…:phone-number-id/<hex>` → `phone-number-id-<hex>` (the SendWhatsAppMessage form)."""
    resource = arn.rsplit(":", 1)[-1]
    kind, _, identifier = resource.partition("/")
    if kind != "phone-number-id" or not identifier:
        raise MalformedEventError("phone number ARN has an unexpected resource form")
    return f"phone-number-id-{identifier}"


def _business(context: _Context, metadata: _Metadata, entry_id: str | None) -> BusinessNumber:
    for ref in context.phone_numbers:
        if ref.meta_phone_number_id == metadata.phone_number_id:
            waba_id = entry_id or (context.wabas[0].waba_id if context.wabas else None)
            return BusinessNumber(
                phone_number_id=metadata.phone_number_id,
                arn=ref.arn,
                origination_id=origination_id_from_arn(ref.arn),
                waba_id=waba_id,
                display_phone_number=metadata.display_phone_number,
            )
    raise MalformedEventError("business phone number id is not listed in the EUM context")


def _customer(message: _WireMessage, contacts: Sequence[_WireContact]) -> Customer:
    wa_id = message.from_
    bsuid = message.from_user_id
    match = next(
        (c for c in contacts if (bsuid and c.user_id == bsuid) or (wa_id and c.wa_id == wa_id)),
        contacts[0] if len(contacts) == 1 else None,
    )
    if match is not None:
        wa_id = wa_id or match.wa_id
        bsuid = bsuid or match.user_id
    return Customer(
        wa_id=wa_id,
        bsuid=bsuid,
        parent_bsuid=message.from_parent_user_id or (match.parent_user_id if match else None),
        profile_name=match.profile.name if match else None,
        username=match.profile.username if match else None,
    )


_SIMPLE_PAYLOAD_FIELDS: Final[Mapping[MessageType, str]] = {
    MessageType.TEXT: "text",
    MessageType.IMAGE: "image",
    MessageType.VIDEO: "video",
    MessageType.AUDIO: "audio",
    MessageType.DOCUMENT: "document",
    MessageType.STICKER: "sticker",
    MessageType.LOCATION: "location",
    MessageType.BUTTON: "button",
    MessageType.REACTION: "reaction",
    MessageType.ORDER: "order",
    MessageType.SYSTEM: "system",
    MessageType.UNSUPPORTED: "unsupported",
}


def _interactive_payload(wire: _WireInteractive) -> InteractiveReplyPayload:
    choice = wire.button_reply or wire.list_reply
    if choice is not None:
        return InteractiveReplyPayload(
            reply_type=wire.type,
            id=choice.id,
            title=choice.title,
            description=choice.description,
        )
    if wire.nfm_reply is not None:
        return InteractiveReplyPayload(
            reply_type=wire.type,
            title=wire.nfm_reply.body,
            response_json=wire.nfm_reply.response_json,
            flow_name=wire.nfm_reply.name,
        )
    return InteractiveReplyPayload(reply_type=wire.type)


def _typed_payload(message: _WireMessage) -> tuple[MessageType, Any]:
    try:
        kind = MessageType(message.type)
    except ValueError:
        return MessageType.UNSUPPORTED, UnsupportedPayload(type=message.type)
    if kind is MessageType.CONTACTS:
        return kind, ContactsPayload(cards=message.contacts or ())
    if kind is MessageType.INTERACTIVE:
        wire = message.interactive
        return kind, _interactive_payload(wire) if wire is not None else None
    if kind is MessageType.REQUEST_WELCOME:
        return kind, None
    payload = getattr(message, _SIMPLE_PAYLOAD_FIELDS[kind])
    if payload is None and kind is MessageType.UNSUPPORTED:
        payload = UnsupportedPayload()
    if payload is None:
        raise MalformedEventError(f"{kind.value} message without its {kind.value} object")
    return kind, payload


_RFC3339: Final = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$")


def _rfc3339_ns(text: str | None) -> int | None:
    """`2025-11-11T02:24:28.476795989Z` → epoch nanoseconds (datetime keeps only µs)."""
    if not text:
        return None
    match = _RFC3339.match(text)
    if match is None:
        return None
    try:
        seconds = datetime.fromisoformat(match.group(1) + "+00:00").timestamp()
    except ValueError:
        # "2025-02-30T…": only an ordering hint within a second, so an impossible date
        # costs the hint, not the message.
        return None
    fraction = (match.group(2) or "").ljust(9, "0")[:9]
    return int(seconds) * 1_000_000_000 + int(fraction)


def _inbound(
    message: _WireMessage,
    business: BusinessNumber,
    contacts: Sequence[_WireContact],
    published_at_ns: int | None = None,
) -> InboundMessage:
    customer = _customer(message, contacts)
    kind, payload = _typed_payload(message)
    return InboundMessage(
        business=business,
        customer=customer,
        customer_key=customer.key_for(business.phone_number_id),
        message_id=message.id,
        timestamp=message.timestamp,
        type=kind,
        wire_type=message.type,
        payload=payload,
        context=message.context,
        referral=message.referral,
        errors=message.errors,
        published_at_ns=published_at_ns,
    )


def _status(status: _WireStatus, business: BusinessNumber) -> StatusUpdate:
    return StatusUpdate(
        business=business,
        message_id=status.id,
        status=status.status,
        timestamp=status.timestamp,
        recipient_id=status.recipient_id,
        recipient_user_id=status.recipient_user_id,
        errors=status.errors,
        biz_opaque_callback_data=status.biz_opaque_callback_data,
        conversation_id=status.conversation.id if status.conversation else None,
        pricing_category=status.pricing.category if status.pricing else None,
    )


def parse_eum_event(raw: str | bytes | Mapping[str, Any]) -> ParsedEvent:
    """Parse one EUM envelope (the SNS `Message`) into inbound messages and status updates."""
    try:
        envelope = _Envelope.model_validate(_unwrap(raw))
    except ValidationError as exc:
        raise MalformedEventError(_safe_reason("envelope", exc)) from exc
    entry_raw = envelope.entry
    if isinstance(entry_raw, str):
        entry_raw = _load_json(entry_raw, "whatsAppWebhookEntry")
    try:
        entry = _Entry.model_validate(entry_raw)
    except ValidationError as exc:
        raise MalformedEventError(_safe_reason("webhook entry", exc)) from exc

    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    ignored = 0
    published_at_ns = _rfc3339_ns(envelope.message_timestamp)
    for change in entry.changes:
        if change.field != "messages":
            ignored += 1
            continue
        try:
            value = _Value.model_validate(change.value)
        except ValidationError as exc:
            raise MalformedEventError(_safe_reason("messages change", exc)) from exc
        business = _business(envelope.context, value.metadata, entry.id)
        messages.extend(
            _inbound(m, business, value.contacts, published_at_ns) for m in value.messages
        )
        statuses.extend(_status(s, business) for s in value.statuses)
    return ParsedEvent(messages=tuple(messages), statuses=tuple(statuses), ignored_changes=ignored)


# ---------------------------------------------------------------- compact form


def to_compact(message: InboundMessage) -> dict[str, Any]:
    """JSON-ready dict of one message, for the raw-messages item and its stream record."""
    body = message.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {"v": COMPACT_VERSION, **body}


def from_compact(data: Mapping[str, Any]) -> InboundMessage:
    """Rebuild the typed message written by `to_compact`."""
    version = data.get("v")
    if version != COMPACT_VERSION:
        raise MalformedEventError(f"unknown compact message version {version!r}")
    try:
        return InboundMessage.model_validate({k: v for k, v in data.items() if k != "v"})
    except ValidationError as exc:
        raise MalformedEventError(_safe_reason("compact message", exc)) from exc
