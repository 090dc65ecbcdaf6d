"""Aggregation of one customer burst into what the agent sees in Connect (DESIGN §7).

Every message of the burst keeps its place: texts are joined with newlines and every
other type becomes a readable line in the same text, so a burst costs one Connect
message. Only media handed over as attachments (`media_as_attachments`) interrupt the
text: each is preceded by its label line (caption, file name) and followed by a new part.
Each part remembers which WhatsApp message ids it carries, because delivery records per
message id what has reached Connect (DESIGN §5.3).
"""

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Final, Literal

import structlog
from pydantic import BaseModel, ConfigDict

from service.bridge.events.whatsapp import (
    MEDIA_TYPES,
    ButtonPayload,
    ContactsPayload,
    EditPayload,
    InboundMessage,
    InteractiveReplyPayload,
    LocationPayload,
    MediaPayload,
    MessageType,
    OrderPayload,
    ReactionPayload,
    Referral,
    ReplyContext,
    RevokePayload,
    SystemPayload,
    TextPayload,
    UnsupportedPayload,
)
from service.bridge.text.split import split_text

# Historic Connect limit for text/plain (reference §3.4): safe until the target
# instance is shown to accept the newer 16 KiB.
DEFAULT_CONNECT_TEXT_LIMIT: Final = 1024
QUOTE_LENGTH: Final = 60
UNRENDERABLE: Final = "[A WhatsApp message the bridge could not display]"
# Message types that carry a file Connect can hold as a chat attachment.
ATTACHABLE_TYPES: Final = MEDIA_TYPES | {MessageType.STICKER}

log = structlog.get_logger(__name__)


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True)


class TextPart(_Part):
    kind: Literal["text"] = "text"
    text: str
    message_ids: tuple[str, ...]


class MediaPart(_Part):
    kind: Literal["media"] = "media"
    message_id: str
    media_type: MessageType
    media: MediaPayload


RenderedPart = TextPart | MediaPart


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= QUOTE_LENGTH else flat[: QUOTE_LENGTH - 1] + "…"


def _media_note(kind: MessageType, media: MediaPayload) -> str:
    if kind is MessageType.AUDIO:
        label = "Voice note" if media.voice else "Audio"
    elif kind is MessageType.DOCUMENT and media.filename:
        label = f"Document: {media.filename}"
    elif kind is MessageType.STICKER:
        label = "Animated sticker" if media.animated else "Sticker"
    else:
        label = kind.value.capitalize()
    note = f"[{label}]"
    return f"{note} {media.caption}" if media.caption else note


def _location(payload: LocationPayload) -> str:
    described = ", ".join(p for p in (payload.name, payload.address) if p)
    head = f"[Location] {described}" if described else "[Location]"
    link = (
        "https://www.google.com/maps/search/?api=1&query="
        f"{payload.latitude:.6f},{payload.longitude:.6f}"
    )
    return f"{head}\n{link}"


def _contacts(payload: ContactsPayload) -> str:
    lines = []
    for card in payload.cards:
        numbers = ", ".join(p.phone or p.wa_id or "" for p in card.phones if p.phone or p.wa_id)
        emails = ", ".join(e.email for e in card.emails if e.email)
        details = "; ".join(d for d in (numbers, emails) if d)
        name = card.display_name or "(no name)"
        lines.append(f"[Contact] {name}: {details}" if details else f"[Contact] {name}")
    return "\n".join(lines) or "[Contact] (empty card)"


def _form_answers(response_json: str | None) -> str:
    try:
        answers = json.loads(response_json or "")
    except (ValueError, RecursionError):
        return ""
    if not isinstance(answers, dict):
        return ""
    # flow_token is WhatsApp's correlation id, not something the customer entered.
    pairs = [f"{k}: {v}" for k, v in answers.items() if k != "flow_token"]
    return "; ".join(pairs)


def _interactive(payload: InteractiveReplyPayload) -> str:
    if payload.reply_type == "nfm_reply":
        answers = _form_answers(payload.response_json)
        title = payload.title or payload.flow_name or "form"
        return f"[Form sent: {title}] {answers}" if answers else f"[Form sent: {title}]"
    if payload.reply_type == "call_permission_reply":
        return _call_permission(payload)
    if payload.title:
        # A list row's description is what the agent needs when titles are terse.
        described = f" — {payload.description}" if payload.description else ""
        return f"[Chose] {payload.title}{described}"
    return f"[Interactive reply: {payload.reply_type}]"


def _call_permission(payload: InteractiveReplyPayload) -> str:
    if payload.permission == "accept":
        if payload.permission_expires_at is None:
            return "[Allowed the business to call them]"
        until = datetime.fromtimestamp(payload.permission_expires_at, tz=UTC)
        return f"[Allowed the business to call them until {until:%Y-%m-%d %H:%M} UTC]"
    if payload.permission == "reject":
        return "[Declined to be called]"
    return "[Answered a call permission request]"


def _order(payload: OrderPayload) -> str:
    lines = ["[Order]"]
    for item in payload.product_items:
        price = ""
        if item.item_price is not None:
            price = f" @ {item.item_price:g} {item.currency or ''}".rstrip()
        lines.append(f"- {item.quantity} x {item.product_retailer_id}{price}")
    if payload.text:
        lines.append(payload.text)
    return "\n".join(lines)


def _unsupported(message: InboundMessage, payload: UnsupportedPayload | None) -> str:
    what = (payload.type if payload else None) or message.wire_type
    shown = f" ({what})" if what and what != "unsupported" else ""
    # What WhatsApp itself said (e.g. 131051 "Message type unknown"), when it said it.
    said = "; ".join(
        f"{error.code} {error.details or error.title or ''}".strip() for error in message.errors
    )
    said = f" (WhatsApp: {said})" if said else ""
    return (
        f"[The customer sent a message type WhatsApp does not pass on{shown}{said}; "
        "ask them to send it another way]"
    )


class _Renderer:
    def __init__(self, known_texts: Mapping[str, str]) -> None:
        self._known = known_texts

    def quote_of(self, message_id: str | None) -> str:
        text = self._known.get(message_id) if message_id else None
        return f'"{_quote(text)}"' if text else "an earlier message"

    def reaction(self, payload: ReactionPayload) -> str:
        target = self.quote_of(payload.message_id)
        if payload.removed:
            return f"[Removed a reaction to {target}]"
        return f"[Reacted {payload.emoji} to {target}]"

    def context_prefix(self, context: ReplyContext | None, referral: Referral | None) -> str:
        lines = []
        if referral is not None:
            origin = " — ".join(p for p in (referral.headline, referral.source_url) if p)
            lines.append(f"[From an ad: {origin}]" if origin else "[From an ad]")
        product = None if context is None else context.referred_product
        if product is not None and product.product_retailer_id:
            lines.append(f"[Asking about catalogue item {product.product_retailer_id}]")
        elif context is not None and context.message_id:
            lines.append(f"> Replying to {self.quote_of(context.message_id)}")
        if context is not None and (context.forwarded or context.frequently_forwarded):
            lines.append("[Forwarded]")
        return "".join(line + "\n" for line in lines)

    def body(self, message: InboundMessage) -> str:
        payload = message.payload
        match payload:
            case TextPayload(body=body):
                # Connect rejects empty content; an empty text must still be visible.
                rendered = body or "[Empty message]"
            case MediaPayload():
                rendered = _media_note(message.type, payload)
            case LocationPayload():
                rendered = _location(payload)
            case ContactsPayload():
                rendered = _contacts(payload)
            case InteractiveReplyPayload():
                rendered = _interactive(payload)
            case ButtonPayload(text=text):
                rendered = f"[Tapped] {text}"
            case ReactionPayload():
                rendered = self.reaction(payload)
            case OrderPayload():
                rendered = _order(payload)
            case SystemPayload(body=body):
                rendered = f"[WhatsApp notice] {body}" if body else "[WhatsApp notice]"
            case None if message.type is MessageType.REQUEST_WELCOME:
                rendered = "[The customer opened the chat]"
            case EditPayload() | RevokePayload():
                rendered = ""  # never reached: `_skipped` leaves amendments out
            case _:
                rendered = _unsupported(message, payload)
        return rendered


# Edits and deletions change other messages rather than say something of their own: the
# burst is amended before rendering (`policy.amendments`), and what is left to tell the
# agent goes through the bridge's voice (`flows.amend`). They still travel with the burst
# so the delivery ledger records them and a replay repeats nothing.
_AMENDMENTS: Final = frozenset({MessageType.EDIT, MessageType.REVOKE})


def _skipped(message: InboundMessage, *, ignore_stickers: bool, ignore_reactions: bool) -> bool:
    return (
        message.type in _AMENDMENTS
        or (ignore_stickers and message.type is MessageType.STICKER)
        or (ignore_reactions and message.type is MessageType.REACTION)
    )


def _ids_in(spans: Sequence[tuple[int, int, str]], start: int, end: int, total: int) -> list[str]:
    ids: list[str] = []
    for span_start, span_end, message_id in spans:
        overlaps = span_start < end and span_end > start
        # An empty line belongs to the chunk its position falls in (the last one at the end).
        holds_empty = span_start == span_end and (
            start <= span_start < end or span_start == total == end
        )
        if (overlaps or holds_empty) and message_id not in ids:
            ids.append(message_id)
    return ids


def _split_block(
    lines: Sequence[tuple[str, str]], *, limit: int, byte_limit: int | None
) -> list[TextPart]:
    text = "\n".join(line for _, line in lines)
    spans: list[tuple[int, int, str]] = []
    offset = 0
    for message_id, line in lines:
        spans.append((offset, offset + len(line), message_id))
        offset += len(line) + 1
    parts: list[TextPart] = []
    start = 0
    for chunk in split_text(text, limit, byte_limit=byte_limit):
        end = start + len(chunk)
        ids = _ids_in(spans, start, end, len(text))
        parts.append(TextPart(text=chunk, message_ids=tuple(ids)))
        start = end
    return parts


def render_burst(
    messages: Sequence[InboundMessage],
    *,
    ignore_stickers: bool,
    ignore_reactions: bool,
    text_limit: int = DEFAULT_CONNECT_TEXT_LIMIT,
    byte_limit: int | None = None,
    media_as_attachments: bool = False,
    known_texts: Mapping[str, str] | None = None,
    late_before: tuple[int, int] | None = None,
) -> list[RenderedPart]:
    """Render a burst, in the order given, into Connect-sized parts.

    `known_texts` maps WhatsApp message ids to their text, so reactions and replies can
    quote the message they refer to. Messages skipped by configuration appear in no part.
    A message sent before `late_before` (the order key of the customer's newest message the
    agent already has: WhatsApp's time in seconds, then EUM's publication time in ns, so a
    message sharing its second with a later one is still told apart) arrived after later
    ones reached the agent (SQS brought it back late): it says so, with the time the
    customer sent it.
    """
    renderer = _Renderer(known_texts or {})
    parts: list[RenderedPart] = []
    block: list[tuple[str, str]] = []

    def flush() -> None:
        if block:
            parts.extend(_split_block(block, limit=text_limit, byte_limit=byte_limit))
            block.clear()

    for message in messages:
        if _skipped(message, ignore_stickers=ignore_stickers, ignore_reactions=ignore_reactions):
            continue
        prefix = renderer.context_prefix(message.context, message.referral)
        if late_before is not None and message.order_key < late_before:
            prefix = late_prefix(message.timestamp) + prefix
        payload = message.payload
        if (
            media_as_attachments
            and message.type in ATTACHABLE_TYPES
            and isinstance(payload, MediaPayload)
        ):
            # The label (with caption or file name) goes just before the file, joined to
            # the text before it: the agent reads what follows, and a new chat has its
            # short first line without costing an extra message.
            block.append((message.message_id, prefix + _media_note(message.type, payload)))
            flush()
            parts.append(
                MediaPart(message_id=message.message_id, media_type=message.type, media=payload)
            )
            continue
        block.append((message.message_id, prefix + _rendered_body(renderer, message)))
    flush()
    return parts


def late_prefix(timestamp: int) -> str:
    sent = datetime.fromtimestamp(timestamp, UTC).strftime("%H:%M:%S")
    return f"⏱ sent {sent} UTC, arrived late:\n"


def _rendered_body(renderer: "_Renderer", message: InboundMessage) -> str:
    try:
        return renderer.body(message)
    except Exception as exc:  # noqa: BLE001  one odd message must not cost its whole burst
        log.warning("render_failed", type=message.wire_type, error=type(exc).__name__)
        return UNRENDERABLE
