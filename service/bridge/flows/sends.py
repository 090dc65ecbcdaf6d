"""One WhatsApp send for the agent's side, claimed, paced and accounted: `AgentSends`.

Every message the agent's side puts on WhatsApp (a reply's parts, an attachment, a
template, the closing message) goes through `send`: an idempotency claim keyed by the
Connect item (and part), the pacer of the business number and the customer, the send, the
claim completed with WhatsApp's message id and the message remembered for its statuses. A
refusal is told to the agent (`tell_agent`, the bridge's own participant, a token per item
so a retried note is a no-op) and settled; a rate limit slows the pacer and retries.
`RetryLater` is how a send says "not now" to the flow that owns the item.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from service.bridge.adapters.claims import ClaimState, SentMessage, callback_data
from service.bridge.adapters.media import MediaNotSendableError
from service.bridge.adapters.whatsapp import Recipient
from service.bridge.events.connect import AttachmentEvent, ChatEndedEvent, MessageEvent
from service.bridge.events.transport import Outcome, Settle
from service.bridge.flows.ports import Chat, PacerPort, SendClaimsPort, WhatsAppSender
from service.bridge.flows.status import RATE_LIMITS, failure_note
from service.clock import SYSTEM_CLOCK, Clock
from service.errors import WhatsAppSendError

if TYPE_CHECKING:
    from service.bridge.adapters.sessions import Session

log = structlog.get_logger(__name__)

_LATENCY_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)

Build = Callable[[], dict[str, Any] | Awaitable[dict[str, Any]]]
Sendable = MessageEvent | AttachmentEvent | ChatEndedEvent


class OutboundMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "bridge_outbound_messages",
            "WhatsApp messages sent for Connect events, by WhatsApp type",
            ["type"],
            registry=registry,
        )
        self.latency = Histogram(
            "bridge_outbound_latency_seconds",
            "From the Connect event's AbsoluteTime to the WhatsApp send",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.failures = Counter(
            "bridge_outbound_failures",
            "WhatsApp sends refused, by Meta code (or error class)",
            ["code"],
            registry=registry,
        )
        self.events = Counter(
            "bridge_outbound_events",
            "Connect streaming events handled, by kind and action",
            ["kind", "action"],
            registry=registry,
        )
        self.duplicates = Counter(
            "bridge_outbound_duplicates",
            "WhatsApp sends skipped because the Connect item was already sent",
            registry=registry,
        )


class RetryLater(Exception):  # noqa: N818  control flow inside one chat, never escapes
    """Not now: the item is retried (after `retry_after_s` when known)."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.verdict = Outcome(Settle.RETRY, reason, retry_after_s)


class AgentSends:
    def __init__(
        self,
        *,
        whatsapp: WhatsAppSender,
        claims: SendClaimsPort,
        pacer: PacerPort,
        channel: Chat,
        metrics: OutboundMetrics,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._whatsapp = whatsapp
        self._claims = claims
        self._pacer = pacer
        self._channel = channel
        self._metrics = metrics
        self._clock = clock

    async def tell_agent(self, session: Session, text: str, *, key: str) -> None:
        """A note for the agent about item `key`; its token makes a retried note a no-op."""
        await self._channel.note(session, text, client_token=f"note-{key}")

    async def send(
        self,
        session: Session,
        event: Sendable,
        key: str,
        build: Build,
    ) -> bool:
        """Send once (claimed under `key`); True if WhatsApp has it, now or from before."""
        claim = await self._claims.claim(key)
        if claim.state is ClaimState.SENT:
            self._metrics.duplicates.inc()
            log.info("outbound_duplicate_skipped", contact_id=event.contact_id)
            # Settled before: sent if it has a message id, refused (and told) if not.
            return claim.whatsapp_message_id is not None
        if claim.state is ClaimState.IN_PROGRESS:
            raise RetryLater("another worker is sending this item")
        try:
            result = await self._paced_send(session, build, key)
        except MediaNotSendableError:
            raise  # settled by the caller once the agent is told
        except WhatsAppSendError as exc:
            await self._refused(session, key, exc)
            return False
        except BaseException:
            # Nothing was sent (WhatsApp answered with an error, or we never got that far):
            # give the claim up at once, or every retry would find it "in progress" until
            # it expires, and the item would reach the DLQ without ever being tried again.
            await self._claims.release(key)
            raise
        await self._sent(session, event, key, result)
        return True

    async def _paced_send(
        self,
        session: Session,
        build: Build,
        key: str,
    ) -> tuple[str, dict[str, Any]]:
        built = build()
        fields = await built if isinstance(built, Awaitable) else built
        message = {**recipient(session).fields(), **fields}
        # WhatsApp echoes it in this message's statuses: a claim its sender could not
        # complete (killed after the send) is settled from them (`claims.settle`). The
        # message remembered for a resend goes without it (a resend has its own claim).
        tag = callback_data(key)
        tagged = message if tag is None else {**message, "biz_opaque_callback_data": tag}
        reservation = self._pacer.reserve(session.business_phone_number_id, session.customer_key)
        if not reservation.admitted:
            raise RetryLater("paced", retry_after_s=reservation.wait_s)
        if reservation.wait_s > 0:
            await self._clock.sleep(reservation.wait_s)
        wamid = await self._whatsapp.send(origination_id=session.origination_id, message=tagged)
        return wamid, message

    async def _sent(
        self,
        session: Session,
        event: Sendable,
        key: str,
        result: tuple[str, dict[str, Any]],
    ) -> None:
        wamid, message = result
        sent = (
            None
            if event.item_id is None
            else SentMessage(
                whatsapp_message_id=wamid,
                initial_contact_id=session.initial_contact_id,
                connect_item_id=event.item_id,
                customer_key=session.customer_key,
                message=message,
            )
        )
        await self._claims.complete(key, whatsapp_message_id=wamid, sent=sent)
        self._metrics.messages.labels(str(message.get("type", "unknown"))).inc()
        sent_at = parse_time(event.absolute_time)
        if sent_at is not None:
            self._metrics.latency.observe(max(0.0, self._clock.time() - sent_at))
        log.info("outbound_message_sent", type=message.get("type"), contact_id=event.contact_id)

    async def _refused(self, session: Session, key: str, exc: WhatsAppSendError) -> None:
        code = exc.meta_code
        self._metrics.failures.labels(str(code) if code is not None else "unknown").inc()
        if code in RATE_LIMITS:
            self._pacer.slow_down(
                session.business_phone_number_id,
                session.customer_key if code == 131056 else None,  # noqa: PLR2004  pair rate
            )
            await self._claims.release(key)
            raise RetryLater(f"rate limited by WhatsApp ({code})")
        # Permanent for this message: the agent is told, then it is settled (nothing sent).
        # In that order: a note that fails transiently is retried with the same token,
        # which Connect absorbs, instead of finding the claim settled and saying nothing.
        log.warning("outbound_message_refused", code=code)
        try:
            await self.tell_agent(session, failure_note(code, None), key=key)
        except BaseException:
            # Nothing was sent and the agent is not told yet: the retry starts over (a
            # refused message is refused again, and the note's token absorbs a repeat).
            await self._claims.release(key)
            raise
        await self._claims.complete(key, whatsapp_message_id=None)


def recipient(session: Session) -> Recipient:
    return Recipient(wa_id=session.wa_id, bsuid=session.bsuid)


def parse_time(value: str | None) -> float | None:
    """Epoch seconds of a Connect AbsoluteTime; None if absent or unreadable."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None
