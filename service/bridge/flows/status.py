"""WhatsApp statuses of the bridge's sends → what the agent sees in the Connect chat.

`delivered` / `read` become `message.delivered` / `message.read` receipts on the Connect
item the WhatsApp message came from. `failed` becomes a note in the chat, in plain words.
The note comes from the bridge's own participant (`adapters.voice`, never the customer's),
with a clear prefix and a deterministic ClientToken so a redelivered status adds no
second note. Rate-limit failures (131056,
130429) are not the agent's business: the message is sent again, paced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TypeVar

import structlog
from prometheus_client import CollectorRegistry, Counter

from service.bridge.adapters.claims import ClaimState, SentMessage, claim_key_of
from service.bridge.flows.ports import Chat, PacerPort, SendClaimsPort, Sessions, WhatsAppSender
from service.clock import SYSTEM_CLOCK, Clock
from service.errors import (
    BridgeError,
    ParticipantAccessDeniedError,
    RetryableError,
    ThrottledError,
    WhatsAppSendError,
)

if TYPE_CHECKING:
    from service.bridge.adapters.sessions import Session
    from service.bridge.events.whatsapp import StatusUpdate

log = structlog.get_logger(__name__)

T = TypeVar("T")

NOTE_PREFIX: Final = "⚠️ Not delivered to WhatsApp: "
WINDOW_CLOSED: Final = 131047
UNDELIVERABLE: Final = 131026
RATE_LIMITS: Final = frozenset({131056, 130429})
PAIR_RATE_LIMIT: Final = 131056
_EXPLANATIONS: Final = {
    WINDOW_CLOSED: (
        "the customer has not written in the last 24 hours, so WhatsApp accepts only an"
        " approved template now. The customer must write first, or send a template."
    ),
    UNDELIVERABLE: (
        "WhatsApp cannot deliver to this customer (not a WhatsApp user, an outdated app,"
        " or terms not accepted)."
    ),
}


def failure_note(code: int | None, title: str | None) -> str:
    """The note an agent reads when a message could not reach the customer."""
    if code is not None and code in _EXPLANATIONS:
        return NOTE_PREFIX + _EXPLANATIONS[code]
    what = title or "WhatsApp reported an error"
    return NOTE_PREFIX + (f"{what} (code {code})." if code is not None else f"{what}.")


class FeedbackMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.receipts = Counter(
            "bridge_connect_receipts_forwarded",
            "WhatsApp delivered/read statuses forwarded to Connect, by kind and result",
            ["kind", "result"],
            registry=registry,
        )
        self.failures = Counter(
            "bridge_whatsapp_failed_statuses",
            "Failed statuses of the bridge's WhatsApp messages, by Meta code and action",
            ["code", "action"],
            registry=registry,
        )
        self.settled = Counter(
            "bridge_whatsapp_sends_settled_from_status",
            "Claims of sends whose task died before completing them, settled from a status",
            registry=registry,
        )


@dataclass(frozen=True, slots=True)
class _Context:
    sent: SentMessage
    session: Session


class StatusFeedback:
    """The `on_statuses` sink of the inbound queue handler."""

    def __init__(
        self,
        *,
        claims: SendClaimsPort,
        sessions: Sessions,
        channel: Chat,
        whatsapp: WhatsAppSender,
        pacer: PacerPort,
        metrics: FeedbackMetrics,
        forward_delivered: bool = True,
        forward_read: bool = True,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._clock = clock
        self._claims = claims
        self._sessions = sessions
        self._channel = channel
        self._whatsapp = whatsapp
        self._pacer = pacer
        self._metrics = metrics
        self._forward = {"delivered": forward_delivered, "read": forward_read}

    async def __call__(self, statuses: Sequence[StatusUpdate]) -> None:
        for update in statuses:
            if update.status == "sent":
                await self._settle_if_unrecorded(update)
                continue
            if update.status not in {"delivered", "read", "failed"}:
                continue
            context = await self._context(update)
            if context is None:
                continue
            if update.failed:
                await self._failed(update, context)
            elif self._forward[update.status]:
                await self._receipt(update, context)

    async def _settle_if_unrecorded(self, update: StatusUpdate) -> None:
        """`sent` tells the agent nothing; it only settles a claim whose sender died."""
        if claim_key_of(update.biz_opaque_callback_data) is None:
            return  # not a claimed send of ours
        if await self._claims.sent(update.message_id) is None:
            await self._settle(update)

    async def _settle(self, update: StatusUpdate) -> None:
        # A message WhatsApp has that the bridge never recorded: if its claim is still
        # INPROGRESS, the task that sent it was killed before completing it.
        key = claim_key_of(update.biz_opaque_callback_data)
        if key is not None and await self._claims.settle(
            key, whatsapp_message_id=update.message_id
        ):
            self._metrics.settled.inc()
            log.info("whatsapp_send_settled_from_status", status=update.status)

    async def _context(self, update: StatusUpdate) -> _Context | None:
        sent = await self._claims.sent(update.message_id)
        if sent is None:
            # A read receipt or reaction of ours, a record past its TTL, or a claimed send
            # whose task was killed before it recorded it.
            await self._settle(update)
            return None
        session = await self._sessions.find_by_initial_contact(sent.initial_contact_id)
        if session is None:
            log.info("whatsapp_status_chat_gone", status=update.status)
            return None
        return _Context(sent=sent, session=session)

    async def _receipt(self, update: StatusUpdate, context: _Context) -> None:
        try:
            await self._channel.receipt(
                context.session, context.sent.connect_item_id, read=update.status == "read"
            )
        except (ParticipantAccessDeniedError, BridgeError) as exc:
            if isinstance(exc, RetryableError):
                raise  # the inbound message is retried; the receipt is idempotent
            self._metrics.receipts.labels(update.status, "failed").inc()
            log.warning("connect_receipt_failed", status=update.status, error=type(exc).__name__)
            return
        self._metrics.receipts.labels(update.status, "sent").inc()

    async def _failed(self, update: StatusUpdate, context: _Context) -> None:
        error = update.errors[0] if update.errors else None
        code = None if error is None else error.code
        if code in RATE_LIMITS:
            await self._resend(update, context, code)
            return
        self._metrics.failures.labels(str(code), "note").inc()
        log.info("whatsapp_send_failed_async", code=code)
        await self._channel.note(
            context.session,
            failure_note(code, None if error is None else error.title),
            client_token=f"note-{update.message_id}",
        )

    async def _resend(self, update: StatusUpdate, context: _Context, code: int | None) -> None:
        session = context.session
        business = session.business_phone_number_id
        self._pacer.slow_down(business, session.customer_key if code == PAIR_RATE_LIMIT else None)
        key = f"resend#{update.message_id}"
        claim = await self._claims.claim(key)
        if claim.state is ClaimState.SENT:
            return
        if claim.state is ClaimState.IN_PROGRESS:
            raise ThrottledError("a resend of this message is in progress")
        reservation = self._pacer.reserve(business, session.customer_key)
        if not reservation.admitted:
            await self._claims.release(key)
            raise ThrottledError("resend paced", retry_after_s=reservation.wait_s)
        await self._clock.sleep(reservation.wait_s)
        try:
            wamid = await self._whatsapp.send(
                origination_id=session.origination_id, message=context.sent.message
            )
        except WhatsAppSendError as exc:
            # Refused for good this time (the window closed meanwhile, say): tell the agent,
            # then settle; retrying a refusal would only reach the dead-letter queue.
            await self._channel.note(
                session, failure_note(exc.meta_code, None), client_token=f"note-{key}"
            )
            await self._claims.complete(key, whatsapp_message_id=None)
            return
        except BaseException:
            await self._claims.release(key)
            raise
        await self._claims.complete(key, whatsapp_message_id=wamid)
        await self._claims.remember(
            SentMessage(
                whatsapp_message_id=wamid,
                initial_contact_id=context.sent.initial_contact_id,
                connect_item_id=context.sent.connect_item_id,
                customer_key=context.sent.customer_key,
                message=context.sent.message,
            )
        )
        self._metrics.failures.labels(str(code), "resent").inc()
        log.info("whatsapp_rate_limited_resent", code=code)
