"""Inbound delivery: one customer burst becomes Connect chat messages, exactly once.

Given a burst (one customer's messages, in order), this:
1. asks the ledger which of them are already recorded; resumes any unfinished delivery
   exactly as recorded and skips completed ones (DESIGN §5.3);
2. renders the fresh ones into Connect-sized parts and records them as a new delivery;
3. sends each part: into the live chat (SendMessage), or, without one, as the
   InitialMessage of a new chat (StartChatContact → StartContactStreaming →
   CreateParticipantConnection, DESIGN §6); progress is recorded after each part.
   A customer's file is a part of its own (`flows/attach.py`): uploaded into the chat with
   the part's token, or replaced by a note; a chat that would start with one starts with
   a short line first.

Every Connect call carries a token derived from the delivery and the part's position, so
a replay after a crash creates nothing twice. `AccessDeniedException` first re-creates the
connection with the stored participant token (connection tokens live a day, chats up to
seven); only if that is refused too is the chat gone, and the part starts a new chat.
A part Connect finds too large is split further and sent in pieces.

Errors are the bridge's own (`service.errors`); the buffer retries retryable ones
with backoff and parks the burst after a bounded number of attempts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from service.bridge.adapters.connect_chat import ConnectChat
from service.bridge.adapters.connect_config import ConnectConfig
from service.bridge.adapters.connection import ChatConnection
from service.bridge.adapters.ledger import AttachmentPart, Delivery, DeliveryLedger, Part
from service.bridge.adapters.sessions import Outreach, Session, SessionStore, session_expiry
from service.bridge.events.whatsapp import InboundMessage
from service.bridge.flows.attach import MediaAttacher
from service.bridge.text.render import RenderedPart, TextPart, render_burst
from service.bridge.text.split import split_text
from service.clock import SYSTEM_CLOCK, Clock
from service.errors import (
    ConditionFailedError,
    ConfigurationError,
    InvalidRequestError,
    MessageTooLargeError,
    ParticipantAccessDeniedError,
    RefusedAfterReconnectError,
    RetryableError,
)

log = structlog.get_logger(__name__)

# The first line of a chat whose first part is a file (a chat must start with a text).
ATTACHMENT_FOLLOWS = "[The customer sent a file; it follows]"
# A part is split at most down to this size after size rejections.
_MIN_SPLIT_CHARS = 64


@dataclass(frozen=True, slots=True)
class InboundOptions:
    text_limit: int = 1024
    byte_limit: int | None = None


@dataclass(frozen=True, slots=True)
class _Customer:
    key: str
    display_name: str
    wa_id: str | None
    bsuid: str | None
    business_phone_number_id: str
    origination_id: str
    # The burst's newest message: its WhatsApp time and EUM's publication time (ns).
    last_message_at: int
    last_published_ns: int


class InboundDelivery:
    def __init__(
        self,
        *,
        connect: ConnectChat,
        connection: ChatConnection,
        sessions: SessionStore,
        ledger: DeliveryLedger,
        config: Callable[[], ConnectConfig],
        options: InboundOptions | None = None,
        attacher: MediaAttacher | None = None,
        on_delivered: Callable[[Sequence[InboundMessage]], Awaitable[None]] | None = None,
        on_window_reopened: Callable[[str], Awaitable[None]] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._connect = connect
        self._connection = connection
        self._sessions = sessions
        self._ledger = ledger
        self._config = config
        self._options = options or InboundOptions()
        self._attacher = attacher
        self._on_delivered = on_delivered
        # Called with the customer's key when their burst reached a chat in which the
        # agent's messages wait for the window to reopen (it just has).
        self._on_window_reopened = on_window_reopened
        self._clock = clock

    async def deliver(self, burst: Sequence[InboundMessage]) -> None:
        if not burst:
            return
        customer = _customer_of(burst)
        # Most bursts are new. What keeps a message from reaching the agent twice is the
        # ledger transaction's conditions (DESIGN §5.3: no message id claimed twice), not
        # the read that sorts a replay into resumed, skipped and fresh; so the burst is
        # first recorded as one new delivery, and the ledger is read only when some
        # message of it was claimed already (a replay after a crash or a handoff).
        if await self._deliver_fresh(burst, customer, first_try=True):
            if self._on_delivered is not None:
                await self._on_delivered(burst)
            return
        bound = log.bind(customer=customer.key)
        recorded = await self._ledger.recorded(customer.key, [m.message_id for m in burst])
        resumed: set[str] = set()
        for message in burst:
            delivery = recorded.get(message.message_id)
            if delivery is not None and not delivery.complete and delivery.token not in resumed:
                resumed.add(delivery.token)
                bound.info("delivery_resumed", token=delivery.token, progress=delivery.progress)
                await self._execute(delivery, customer)
        fresh = [m for m in burst if m.message_id not in recorded]
        if len(fresh) < len(burst):
            bound.info("delivery_skipped_recorded", messages=len(burst) - len(fresh))
        if fresh:
            await self._deliver_fresh(fresh, customer)
        if self._on_delivered is not None:
            await self._on_delivered(burst)

    async def _deliver_fresh(
        self, fresh: Sequence[InboundMessage], customer: _Customer, *, first_try: bool = False
    ) -> bool:
        """Record `fresh` as one new delivery and execute it. On the `first_try` (the
        ledger not read yet) False, with nothing done, when some message is claimed already
        or nothing is to be sent (the ledger may still hold an unfinished delivery of
        these messages to resume)."""
        config = self._config()
        # What the agent already has of this customer: a message sent before it is late.
        session = await self._sessions.get(customer.key)
        parts = render_burst(
            fresh,
            ignore_stickers=config.ignore_stickers,
            ignore_reactions=config.ignore_reactions,
            text_limit=self._options.text_limit,
            byte_limit=self._options.byte_limit,
            known_texts=_known_texts(fresh),
            late_before=None
            if session is None
            else (session.last_customer_message_at, session.last_customer_published_ns),
            media_as_attachments=self._attacher is not None,
        )
        recorded = _recordable(parts)
        if not recorded:
            if first_try:
                return False
            log.info("burst_nothing_to_send", customer=customer.key, messages=len(fresh))
            return True
        try:
            delivery = await self._ledger.open(
                customer.key, [m.message_id for m in fresh], recorded
            )
        except ConditionFailedError as exc:
            if first_try:
                return False
            raise ConcurrentClaimError("messages claimed concurrently; re-read on retry") from exc
        await self._execute(delivery, customer)
        return True

    async def _execute(self, delivery: Delivery, customer: _Customer) -> None:
        index = delivery.progress
        holding = False
        while index < len(delivery.parts):
            session = await self._live_session(customer)
            holding = session is not None and bool(session.held)
            if session is None:
                started = await self._start_chat(customer, delivery, index)
                contact_id = started if isinstance(started, str) else started.contact_id
            elif await self._send_part(session, customer, delivery, index):
                contact_id = session.contact_id
            else:
                continue  # the chat had ended: the same part starts a new one
            index += 1
            delivery = await self._ledger.advance(
                delivery, index, contact_id=contact_id, complete=index == len(delivery.parts)
            )
        if not delivery.complete:  # resumed with every part already sent
            await self._ledger.complete(delivery)
        await self._sessions.touch(
            customer.key,
            last_customer_message_at=customer.last_message_at,
            published_ns=customer.last_published_ns,
        )
        if holding and self._on_window_reopened is not None:
            await self._on_window_reopened(customer.key)
        log.info(
            "burst_delivered",
            customer=customer.key,
            token=delivery.token,
            messages=len(delivery.message_ids),
            parts=len(delivery.parts),
            contact_id=delivery.contact_id,
        )

    async def _live_session(self, customer: _Customer) -> Session | None:
        session = await self._sessions.get(customer.key)
        if session is None:
            return None
        if session.chat_ends_at is not None and session.chat_ends_at <= self._clock.time():
            # The chat's duration has passed: Connect has ended it, whether or not the
            # chat.ended event reached us.
            await self._sessions.delete(customer.key, initial_contact_id=session.initial_contact_id)
            return None
        return session

    async def _send_part(
        self, session: Session, customer: _Customer, delivery: Delivery, index: int
    ) -> bool:
        """Send part `index` into the session's chat; False when that chat has ended."""

        part = delivery.parts[index]

        async def send(token: str) -> None:
            assert isinstance(part, str)  # noqa: S101  attachments take the other branch
            await self._send_text(token, part, delivery.part_token(index))

        try:
            if isinstance(part, AttachmentPart):
                await self._attach(session, part, delivery.part_token(index))
            else:
                await self._connection.call(session, send)
        except ParticipantAccessDeniedError:
            await self._end_session(customer, session, "participant token refused")
            return False
        return True

    async def _send_text(self, connection_token: str, text: str, token: str) -> None:
        try:
            await self._connect.send_message(
                connection_token=connection_token, content=text, client_token=token
            )
        except MessageTooLargeError:
            pieces = self._smaller(text)
            log.info("part_split_after_size_rejection", chars=len(text), pieces=len(pieces))
            for number, piece in enumerate(pieces):
                await self._send_text(connection_token, piece, f"{token}-{number}")

    def _smaller(self, text: str) -> list[str]:
        if len(text) <= _MIN_SPLIT_CHARS:
            raise MessageTooLargeError("Connect refuses even the smallest piece of this text")
        return split_text(text, max(_MIN_SPLIT_CHARS, len(text) // 2))

    async def _end_session(self, customer: _Customer, session: Session, why: str) -> None:
        log.info("chat_gone", customer=customer.key, contact_id=session.contact_id, reason=why)
        await self._sessions.delete(customer.key, initial_contact_id=session.initial_contact_id)

    async def _start_chat(
        self, customer: _Customer, delivery: Delivery, index: int
    ) -> Session | str:
        """The new chat's session; only its contact id if it ended before we joined it."""
        config = self._config()
        token = delivery.start_token(index)
        part = delivery.parts[index]
        # A chat starts with a text: before a file, a short line saying one follows.
        text = part if isinstance(part, str) else ATTACHMENT_FOLLOWS
        # Read, not consumed, until the session is stored: a replay (same ClientToken)
        # must ask for the same chat, attributes included.
        outreach = await self._outreach_for(customer)
        started = await self._connect.start_chat(
            instance_id=config.instance_id,
            contact_flow_id=config.contact_flow_id,
            display_name=customer.display_name,
            attributes=_attributes(customer, outreach),
            initial_message=text,
            chat_duration_minutes=config.chat_duration_minutes,
            client_token=token,
        )
        streaming_id: str | None = None
        refused: InvalidRequestError | None = None
        try:
            streaming_id = await self._connect.start_streaming(
                instance_id=config.instance_id,
                contact_id=started.contact_id,
                client_token=f"{token}-stream",
            )
        except InvalidRequestError as exc:
            # "The contact is not active": only joining tells an ended chat from a request
            # that is really wrong.
            refused = exc
        try:
            connection = await self._connect.create_connection(
                participant_token=started.participant_token
            )
            if refused is not None:
                raise refused
        except ParticipantAccessDeniedError:
            # The chat ended before we could join it (a flow that disconnects at once, an
            # agent who closed it). Its InitialMessage is in that chat's transcript, so this
            # part has reached Connect; the next part, or the next burst, opens a new chat.
            # Retrying would only meet the same ended chat again: StartChatContact answers
            # a repeated ClientToken with the contact it already created.
            log.info(
                "chat_ended_before_connect", customer=customer.key, contact_id=started.contact_id
            )
            return started.contact_id
        now = self._clock.time()
        chat_ends_at = int(now + config.chat_duration_minutes * 60)
        session = await self._sessions.create(
            Session(
                customer_key=customer.key,
                contact_id=started.contact_id,
                initial_contact_id=started.contact_id,
                participant_id=started.participant_id,
                participant_token=started.participant_token,
                connection_token=connection.connection_token,
                connection_expires_at=int(connection.expires_at.timestamp()),
                display_name=customer.display_name,
                wa_id=customer.wa_id,
                bsuid=customer.bsuid,
                business_phone_number_id=customer.business_phone_number_id,
                origination_id=customer.origination_id,
                last_customer_message_at=customer.last_message_at,
                last_customer_published_ns=customer.last_published_ns,
                streaming_id=streaming_id,
                chat_ends_at=chat_ends_at,
                expires_at=session_expiry(now, config.chat_duration_minutes),
                outreach_id=None if outreach is None else outreach.outreach_id,
                outreach_template=None if outreach is None else outreach.template,
            )
        )
        if outreach is not None:
            await self._sessions.consume_outreach(outreach)
        log.info(
            "chat_started",
            customer=customer.key,
            contact_id=started.contact_id,
            started_at=datetime.fromtimestamp(now, UTC).isoformat(),
        )
        if isinstance(part, AttachmentPart):
            try:
                await self._attach(session, part, delivery.part_token(index))
            except ParticipantAccessDeniedError as exc:
                # The new chat ended under us: the retry finds the session and takes the
                # path that ends it and starts another.
                raise RefusedAfterReconnectError("new chat refused its first file") from exc
        return session

    async def _outreach_for(self, customer: _Customer) -> Outreach | None:
        """The outreach this customer answers: under their key, or under the phone number
        the business wrote to when their key is their BSUID."""
        keys = [customer.key]
        if customer.bsuid and customer.wa_id:
            keys.append(f"{customer.business_phone_number_id}#{customer.wa_id}")
        for key in keys:
            outreach = await self._sessions.outreach_for(key)
            if outreach is not None:
                return outreach
        return None

    async def _attach(self, session: Session, part: AttachmentPart, token: str) -> None:
        if self._attacher is None:
            raise ConfigurationError("a recorded attachment part, but no media attacher")
        await self._attacher.attach(session, part, token=token)


def _recordable(parts: Sequence[RenderedPart]) -> list[Part]:
    """The rendered parts as the ledger records them (blank texts dropped)."""
    recorded: list[Part] = []
    for part in parts:
        if isinstance(part, TextPart):
            if part.text.strip():
                recorded.append(part.text)
            continue
        media = part.media
        recorded.append(
            AttachmentPart(
                message_id=part.message_id,
                media_id=media.id,
                kind=part.media_type.value,
                mime_type=media.mime_type,
                filename=media.filename,
                voice=media.voice,
                animated=media.animated,
            )
        )
    return recorded


class ConcurrentClaimError(RetryableError):
    """Another worker claimed some of these messages at the same moment."""


def _customer_of(burst: Sequence[InboundMessage]) -> _Customer:
    last = burst[-1]
    names = [m.customer.profile_name for m in burst if m.customer.profile_name]
    newest_at, newest_ns = max(m.order_key for m in burst)
    return _Customer(
        key=last.customer_key,
        display_name=(names[-1] if names else None) or "WhatsApp customer",
        wa_id=last.customer.wa_id,
        bsuid=last.customer.bsuid,
        business_phone_number_id=last.business.phone_number_id,
        origination_id=last.business.origination_id,
        last_message_at=newest_at,
        last_published_ns=newest_ns,
    )


def _attributes(customer: _Customer, outreach: Outreach | None = None) -> dict[str, str]:
    # The old sample's attribute names, so existing contact flows keep working.
    attributes = {
        "Channel": "WhatsApp",
        "customerId": customer.wa_id or customer.bsuid or "",
        "customerName": customer.display_name,
        "systemNumber": customer.business_phone_number_id,
    }
    if customer.bsuid:
        attributes["customerBsuid"] = customer.bsuid
    if outreach is not None:
        # A contact flow can route the reply to whoever reached out.
        attributes["outreachId"] = outreach.outreach_id
        attributes["outreachTemplate"] = outreach.template
        attributes["outreachSentAt"] = datetime.fromtimestamp(outreach.sent_at, UTC).isoformat()
        if outreach.requested_by:
            attributes["outreachRequestedBy"] = outreach.requested_by
    return attributes


def _known_texts(fresh: Sequence[InboundMessage]) -> dict[str, str]:
    # Quotes come from this burst only: earlier bursts are not kept in memory.
    texts: dict[str, str] = {}
    for message in fresh:
        payload = message.payload
        body = getattr(payload, "body", None)
        if isinstance(body, str):
            texts[message.message_id] = body
    return texts
