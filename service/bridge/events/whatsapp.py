"""The typed model of what WhatsApp sends the bridge: messages and statuses.

The wire format and its parser are in `service.bridge.events.eum`; the compact form
stored in the raw-messages table in `service.bridge.events.codec`. Each payload has a
`kind` discriminator with a default, so the same class reads Meta's wire object (which
has no `kind`) and our compact form (which has it).
"""

from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field


class MalformedEventError(ValueError):
    """The event cannot be parsed; `reason` is safe to log (no ids, numbers or text)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EventModel(BaseModel):
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
    EDIT = "edit"  # the customer changed one of their messages
    REVOKE = "revoke"  # the customer deleted one of their messages for everyone


# System messages after which the customer writes under another identity (DESIGN §4 key).
IDENTITY_CHANGES: Final = frozenset(
    {"user_changed_number", "user_changed_user_id", "customer_changed_number"}
)

MEDIA_TYPES: Final = frozenset(
    {MessageType.IMAGE, MessageType.VIDEO, MessageType.AUDIO, MessageType.DOCUMENT}
)


# ---------------------------------------------------------------- payloads


class TextPayload(EventModel):
    kind: Literal["text"] = "text"
    body: str


class MediaPayload(EventModel):
    kind: Literal["media"] = "media"
    id: str
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None
    voice: bool = False
    animated: bool = False


class LocationPayload(EventModel):
    kind: Literal["location"] = "location"
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None


class ContactName(EventModel):
    formatted_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None


class ContactPhone(EventModel):
    phone: str | None = None
    wa_id: str | None = None
    type: str | None = None


class ContactEmail(EventModel):
    email: str | None = None
    type: str | None = None


class ContactOrg(EventModel):
    company: str | None = None
    department: str | None = None
    title: str | None = None


class ContactCard(EventModel):
    name: ContactName = ContactName()
    phones: tuple[ContactPhone, ...] = ()
    emails: tuple[ContactEmail, ...] = ()
    org: ContactOrg | None = None

    @property
    def display_name(self) -> str | None:
        parts = [p for p in (self.name.first_name, self.name.last_name) if p]
        return self.name.formatted_name or (" ".join(parts) if parts else None)


class ContactsPayload(EventModel):
    kind: Literal["contacts"] = "contacts"
    cards: tuple[ContactCard, ...] = ()


class InteractiveReplyPayload(EventModel):
    kind: Literal["interactive"] = "interactive"
    reply_type: str
    id: str | None = None
    title: str | None = None
    description: str | None = None
    response_json: str | None = None  # nfm_reply (WhatsApp Flows): the form's answers
    flow_name: str | None = None
    # call_permission_reply: "accept" / "reject", and until when an acceptance holds.
    permission: str | None = None
    permission_expires_at: int | None = None


class ButtonPayload(EventModel):
    kind: Literal["button"] = "button"
    text: str
    payload: str | None = None


class ReactionPayload(EventModel):
    kind: Literal["reaction"] = "reaction"
    message_id: str
    emoji: str | None = None

    @property
    def removed(self) -> bool:
        return not self.emoji


class OrderItem(EventModel):
    product_retailer_id: str
    quantity: int = 1
    item_price: float | None = None
    currency: str | None = None


class OrderPayload(EventModel):
    kind: Literal["order"] = "order"
    catalog_id: str | None = None
    product_items: tuple[OrderItem, ...] = ()
    text: str | None = None


class SystemPayload(EventModel):
    """`user_changed_number` (`wa_id`: the new number) and `user_changed_user_id`
    (`user_id`: the new BSUID, `previous_user_id`: the old one) change who the customer is."""

    kind: Literal["system"] = "system"
    body: str | None = None
    type: str | None = None
    wa_id: str | None = None
    user_id: str | None = None
    previous_user_id: str | None = None

    @property
    def changes_identity(self) -> bool:
        return self.type in IDENTITY_CHANGES


class EditPayload(EventModel):
    """`edit`: which message changed and what it says now (its text, or a media caption).

    Meta sends the new message whole (`edit.message`, a message object of its own type);
    only what an agent reads of it is kept.
    """

    kind: Literal["edit"] = "edit"
    original_message_id: str
    new_type: str | None = None
    text: str | None = None


class RevokePayload(EventModel):
    kind: Literal["revoke"] = "revoke"
    original_message_id: str


class UnsupportedPayload(EventModel):
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
    | EditPayload
    | RevokePayload
    | UnsupportedPayload,
    Field(discriminator="kind"),
]


class ReferredProduct(EventModel):
    """The catalogue item the customer asks about (a message sent from a product view)."""

    catalog_id: str | None = None
    product_retailer_id: str | None = None


class ReplyContext(EventModel):
    message_id: str | None = Field(default=None, alias="id")
    from_: str | None = Field(default=None, alias="from")
    forwarded: bool = False
    frequently_forwarded: bool = False
    referred_product: ReferredProduct | None = None


class Referral(EventModel):
    source_url: str | None = None
    source_id: str | None = None
    source_type: str | None = None
    headline: str | None = None
    body: str | None = None
    media_type: str | None = None
    ctwa_clid: str | None = None


class MetaErrorData(EventModel):
    details: str | None = None


class MetaError(EventModel):
    code: int
    title: str | None = None
    message: str | None = None
    error_data: MetaErrorData | None = None

    @property
    def details(self) -> str | None:
        return self.error_data.details if self.error_data else None


# ---------------------------------------------------------------- typed results


class BusinessNumber(EventModel):
    phone_number_id: str  # Meta's id (`metadata.phone_number_id`)
    arn: str  # EUM phone-number ARN
    origination_id: str  # `phone-number-id-<hex>`, accepted by SendWhatsAppMessage
    waba_id: str | None = None
    display_phone_number: str | None = None


class Customer(EventModel):
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


class InboundMessage(EventModel):
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


class StatusUpdate(EventModel):
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


class ParsedEvent(EventModel):
    messages: tuple[InboundMessage, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()
    ignored_changes: int = 0  # changes of other webhook fields (templates, account…)
