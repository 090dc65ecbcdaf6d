"""The agent's messages while the customer's 24-hour window is closed (`template` policy).

The re-engagement template goes out once per closure (the bridge's, or one the agent sent
with `/template`), and the agent's messages are kept in the session (`SessionStore.hold`:
one conditional write each, bounded, once per Connect item). They leave in the order the
agent wrote them as soon as the window is open again: when the customer's next burst
reaches the chat (`flows.deliver` calls back), before the agent's next message, or on the
periodic sweep (`flows.held_sweep`); each send is claimed under its own item's key, so a
replay or a second task releasing too sends nothing twice, and a walk stops at the first
message that cannot go now, so none overtakes another. Held messages the customer does not
come back for within the limit are reported to the agent and dropped.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import structlog

from service.bridge.adapters.sessions import HeldMessage, HoldResult
from service.bridge.events.connect import AgentItem, AttachmentEvent, MessageEvent
from service.bridge.flows.ports import Sessions
from service.bridge.flows.sends import AgentSends, OutboundMetrics
from service.bridge.flows.templates import ReadySend, Refusal, TemplateSends
from service.bridge.policy.window import window_closes_at, window_open
from service.bridge.text.window import (
    held_expired_note,
    held_note,
    not_held_note,
    reengage_failed_note,
)
from service.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from service.bridge.adapters.sessions import Session

log = structlog.get_logger(__name__)

Content = MessageEvent | AttachmentEvent
Deliver = Callable[["Session", Content, str], Awaitable[None]]


class ClosedWindow:
    def __init__(
        self,
        *,
        sessions: Sessions,
        sends: AgentSends,
        templates: TemplateSends,
        deliver: Deliver,
        metrics: OutboundMetrics,
        max_held: int,
        ttl_s: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._sessions = sessions
        self._sends = sends
        self._templates = templates
        # The reply flow's own delivery of a message's content (no policy checks).
        self._deliver = deliver
        self._metrics = metrics
        self._max_held = max_held
        self._ttl_s = ttl_s
        self._clock = clock
        # One release of a customer's held messages at a time in this process (the sends
        # are claimed, so another process releasing too sends nothing twice).
        self._releasing: dict[str, asyncio.Lock] = {}

    async def send_template(
        self, session: Session, event: Content, key: str, ready: ReadySend
    ) -> bool:
        """Send a template (claimed, paced); True if WhatsApp took it (now or before)."""
        sent = await self._sends.send(session, event, key, functools.partial(ready.message_fields))
        if sent and not window_open(session.last_customer_message_at, self._clock.time()):
            # It invites the customer back: no other re-engagement for this closure.
            await self._sessions.mark_reengaged(session, template=ready.template.name)
        return sent

    async def hold(self, session: Session, event: Content, item_id: str, item: AgentItem) -> None:
        closed_at = window_closes_at(session.last_customer_message_at)
        template = session.reengage_template
        if session.reengaged_for != session.last_customer_message_at:
            ready = await self._templates.reengage(session, agent_name=event.display_name)
            if isinstance(ready, Refusal):
                note = reengage_failed_note(closed_at, ready.reason)
                await self._sends.tell_agent(session, note, key=f"{item_id}#window")
                return
            key = f"reengage#{session.initial_contact_id}#{session.last_customer_message_at}"
            if not await self.send_template(session, event, key, ready):
                # WhatsApp refused it (the first time, the agent also heard Meta's reason):
                # nothing can bring the customer back, so nothing is held.
                note = reengage_failed_note(closed_at, "WhatsApp refused it")
                await self._sends.tell_agent(session, note, key=f"{item_id}#window")
                return
            template = ready.template.name
        held = HeldMessage(
            key=item.key,
            payload=item.payload,
            attributes=dict(item.attributes),
            held_at=int(self._clock.time()),
        )
        limit = self._max_held
        result = await self._sessions.hold(session, held, max_held=limit)
        self._metrics.events.labels(event.kind, f"hold_{result.value}").inc()
        if result is HoldResult.HELD or result is HoldResult.ALREADY_HELD:
            position = len(session.held) + (1 if result is HoldResult.HELD else 0)
            note = held_note(closed_at=closed_at, template=template, position=position, limit=limit)
            await self._sends.tell_agent(session, note, key=f"{item_id}#held")
        elif result is HoldResult.FULL:
            await self._sends.tell_agent(session, not_held_note(limit), key=f"{item_id}#held")

    async def after_customer_wrote(self, customer_key: str) -> None:
        """The customer's burst reached a chat holding messages: their window is open again.

        Best effort: the periodic sweep (and the agent's next message) release them too.
        """
        try:
            await self.release_held(customer_key)
        except Exception as exc:  # noqa: BLE001  a held message waits for the next chance
            log.info("held_release_deferred", error=type(exc).__name__)

    async def release_held(self, customer_key: str) -> bool:
        """Deliver the session's held messages in order once the window is open again.

        True when nothing is held any more. Each send is claimed under its own Connect
        item's key, so a replay (or another worker releasing too) never sends twice; the
        walk stops at the first that cannot go now, so none overtakes another.
        """
        lock = self._releasing.setdefault(customer_key, asyncio.Lock())
        try:
            async with lock:
                return await self._release(customer_key)
        finally:
            # Kept only while in use: one lock per customer ever seen would only grow. A
            # caller racing this removal walks concurrently, which the claims make safe.
            if not lock.locked() and self._releasing.get(customer_key) is lock:
                del self._releasing[customer_key]

    async def _release(self, customer_key: str) -> bool:
        session = await self._sessions.get(customer_key)
        if session is None or not session.held:
            return True
        now = self._clock.time()
        if not window_open(session.last_customer_message_at, now):
            await self.expire_held(session)
            return False
        done: list[str] = []
        try:
            for held in session.held:
                item = AgentItem.of(
                    customer_key=session.customer_key,
                    key=held.key,
                    payload=held.payload,
                    attributes=held.attributes,
                )
                event = item.event
                if isinstance(event, MessageEvent | AttachmentEvent):
                    await self._deliver(session, event, event.item_id or held.key)
                done.append(held.key)
        finally:
            if done:
                await self._sessions.unhold(session, done)
                self._metrics.events.labels("held", "released").inc(len(done))
                log.info("held_released", contact_id=session.contact_id, messages=len(done))
        return len(done) == len(session.held)

    async def expire_held(self, session: Session) -> None:
        """Held messages older than the limit: the agent is told, and they are dropped."""
        cutoff = self._clock.time() - self._ttl_s
        expired = [held for held in session.held if held.held_at <= cutoff]
        if not expired:
            return
        note = held_expired_note(len(expired), expired[0].held_at, self._ttl_s)
        await self._sends.tell_agent(session, note, key=f"{expired[-1].key}#expired")
        # Held in order of time, so the expired ones are the oldest: a prefix.
        await self._sessions.unhold(session, [held.key for held in expired])
        self._metrics.events.labels("held", "expired").inc(len(expired))
