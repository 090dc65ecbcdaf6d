"""Parsing of End User Messaging Social events (WhatsApp webhooks relayed over SNS).

Wire format: reference `wire-formats-and-anchors.md` §3.1. One EUM envelope carries
one Meta `entry` (as a JSON string) whose changes hold inbound `messages` and/or
`statuses` for our own outbound messages. Unknown fields are ignored and unknown
message types become `unsupported` messages, so a new Meta feature never crashes the
intake; only an envelope we cannot attribute to a business number and a customer is
rejected, with a reason that carries no personal data. Whatever the input, the parser
raises nothing but `MalformedEventError` for it.
"""

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from pydantic import Field, ValidationError

from service.bridge.events.whatsapp import (
    BusinessNumber,
    ButtonPayload,
    ContactCard,
    ContactsPayload,
    Customer,
    EditPayload,
    EventModel,
    InboundMessage,
    InteractiveReplyPayload,
    LocationPayload,
    MalformedEventError,
    MediaPayload,
    MessageType,
    MetaError,
    OrderPayload,
    ParsedEvent,
    ReactionPayload,
    Referral,
    ReplyContext,
    RevokePayload,
    StatusUpdate,
    SystemPayload,
    TextPayload,
    UnsupportedPayload,
)


class _PhoneNumberRef(EventModel):
    meta_phone_number_id: str = Field(alias="metaPhoneNumberId")
    arn: str


class _WabaRef(EventModel):
    waba_id: str = Field(alias="wabaId")
    arn: str | None = None


class _Context(EventModel):
    phone_numbers: tuple[_PhoneNumberRef, ...] = Field(default=(), alias="MetaPhoneNumberIds")
    wabas: tuple[_WabaRef, ...] = Field(default=(), alias="MetaWabaIds")


class _Envelope(EventModel):
    context: _Context
    entry: str | dict[str, Any] = Field(alias="whatsAppWebhookEntry")
    message_timestamp: str | None = None


class _Profile(EventModel):
    name: str | None = None
    username: str | None = None


class _WireContact(EventModel):
    profile: _Profile = _Profile()
    wa_id: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None


class _Metadata(EventModel):
    phone_number_id: str
    display_phone_number: str | None = None


class _ButtonReply(EventModel):
    id: str | None = None
    title: str | None = None
    description: str | None = None


class _NfmReply(EventModel):
    response_json: str | None = None
    name: str | None = None
    body: str | None = None


class _CallPermission(EventModel):
    response: str | None = None
    expiration_timestamp: int | None = None


class _WireInteractive(EventModel):
    type: str
    button_reply: _ButtonReply | None = None
    call_permission_reply: _CallPermission | None = None
    list_reply: _ButtonReply | None = None
    nfm_reply: _NfmReply | None = None


class _WireEdit(EventModel):
    original_message_id: str
    message: dict[str, Any] = Field(default_factory=dict)

    def payload(self) -> EditPayload:
        new_type = self.message.get("type")
        part = self.message.get(new_type) if isinstance(new_type, str) else None
        text = None
        if isinstance(part, dict):
            value = part.get("body") if new_type == "text" else part.get("caption")
            text = value if isinstance(value, str) else None
        return EditPayload(
            original_message_id=self.original_message_id,
            new_type=new_type if isinstance(new_type, str) else None,
            text=text,
        )


class _WireMessage(EventModel):
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
    edit: _WireEdit | None = None
    revoke: RevokePayload | None = None
    context: ReplyContext | None = None
    referral: Referral | None = None
    errors: tuple[MetaError, ...] = ()


class _Conversation(EventModel):
    id: str | None = None


class _Pricing(EventModel):
    category: str | None = None


class _WireStatus(EventModel):
    id: str
    status: str
    timestamp: int
    recipient_id: str | None = None
    recipient_user_id: str | None = None
    errors: tuple[MetaError, ...] = ()
    biz_opaque_callback_data: str | None = None
    conversation: _Conversation | None = None
    pricing: _Pricing | None = None


class _Value(EventModel):
    metadata: _Metadata
    contacts: tuple[_WireContact, ...] = ()
    messages: tuple[_WireMessage, ...] = ()
    statuses: tuple[_WireStatus, ...] = ()


class _Change(EventModel):
    field: str
    value: dict[str, Any] = Field(default_factory=dict)


class _Entry(EventModel):
    id: str | None = None
    changes: tuple[_Change, ...] = ()


# ---------------------------------------------------------------- parsing


def safe_reason(prefix: str, exc: ValidationError) -> str:
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
    if not wa_id and not bsuid and message.system is not None:
        # `user_changed_user_id` may come with no sender at all: it is about the customer
        # known until now by `previous_user_id`, whose chat it continues.
        bsuid = message.system.previous_user_id
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
    MessageType.REVOKE: "revoke",
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
    if wire.call_permission_reply is not None:
        return InteractiveReplyPayload(
            reply_type=wire.type,
            permission=wire.call_permission_reply.response,
            permission_expires_at=wire.call_permission_reply.expiration_timestamp,
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
    if kind is MessageType.EDIT:
        if message.edit is None:
            raise MalformedEventError("edit message without its edit object")
        return kind, message.edit.payload()
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
        raise MalformedEventError(safe_reason("envelope", exc)) from exc
    entry_raw = envelope.entry
    if isinstance(entry_raw, str):
        entry_raw = _load_json(entry_raw, "whatsAppWebhookEntry")
    try:
        entry = _Entry.model_validate(entry_raw)
    except ValidationError as exc:
        raise MalformedEventError(safe_reason("webhook entry", exc)) from exc

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
            raise MalformedEventError(safe_reason("messages change", exc)) from exc
        business = _business(envelope.context, value.metadata, entry.id)
        messages.extend(
            _inbound(m, business, value.contacts, published_at_ns) for m in value.messages
        )
        statuses.extend(_status(s, business) for s in value.statuses)
    return ParsedEvent(messages=tuple(messages), statuses=tuple(statuses), ignored_changes=ignored)
