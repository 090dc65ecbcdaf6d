"""The outbound queue: each Connect item goes to the one worker that owns its customer.

Connect streams a chat's items to a standard SNS topic, so the outbound queue spreads one
chat's items over every task. Sending them from whichever task received them would let
an agent's rapid replies overtake each other (measured: 5 of 6 chats out of order with two
workers). So this flow sends nothing: it finds the chat's customer (`contact#` → session)
and writes each item the customer should see, as it came, into the raw-messages table
under the customer's key (`adapters.raw_messages.write_agent_items`). The table's stream
carries it to the worker that owns the customer's shard, whose lane (`policy.lanes`)
sends the customer's items in the agent's order (DESIGN §2, §5.4).

One shortcut, for latency only: under the `note` window policy an agent's message to a
customer whose 24-hour window has closed is never sent, so the agent is told here, at
once, instead of after the stream hop and the lane's reorder window (the reply flow
decides the same, with the same note token, if the shortcut could not tell).

Per record, one outcome: parked when it cannot be read, done when there is nothing to do
(an event the customer never sees, a chat that is not ours), retried while a new chat's
session is not stored yet (the flow and the agent can write before the bridge stores it)
or when the write did not happen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from service.bridge.adapters.raw_messages import AGENT_PREFIX, WriteReport
from service.bridge.adapters.sessions import Session
from service.bridge.events.connect import (
    AgentItem,
    AttachmentEvent,
    ChatEndedEvent,
    ConnectEvent,
    MalformedStreamingEventError,
    MessageEvent,
    ParticipantRole,
    ReceiptEvent,
    TypingEvent,
    parse_streaming_record,
    should_forward,
)
from service.bridge.events.transport import DONE, Outcome, QueueItem, Settle, park, retry
from service.bridge.flows.reply import OutboundOptions
from service.bridge.flows.sends import OutboundMetrics, parse_time
from service.bridge.policy.window import window_closes_at, window_open
from service.bridge.text.commands import parse_command
from service.bridge.text.window import window_closed_note
from service.clock import SYSTEM_CLOCK, Clock
from service.errors import BridgeError

log = structlog.get_logger(__name__)


class Chats(Protocol):
    async def find_by_initial_contact(self, initial_contact_id: str) -> Session | None: ...


class AgentItemStore(Protocol):
    async def write_agent_items(self, items: Sequence[AgentItem]) -> WriteReport: ...


class Notes(Protocol):
    async def note(self, session: Session, text: str, *, client_token: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class _Routed:
    message_id: str
    item: AgentItem


class OutboundRouter:
    """The outbound queue's flow: one outcome per record."""

    def __init__(
        self,
        *,
        sessions: Chats,
        store: AgentItemStore,
        metrics: OutboundMetrics,
        options: OutboundOptions | None = None,
        notes: Notes | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._metrics = metrics
        self._options = options or OutboundOptions()
        self._notes = notes
        self._clock = clock

    async def __call__(self, batch: Sequence[QueueItem]) -> Mapping[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        by_chat: dict[str, list[tuple[QueueItem, ConnectEvent]]] = {}
        for message in batch:
            event = self._parse(message, outcomes)
            if event is None:
                continue
            if event.initial_contact_id is None or not self._wanted(event):
                self._metrics.events.labels(event.kind, "not_routed").inc()
                outcomes[message.message_id] = DONE
                continue
            by_chat.setdefault(event.initial_contact_id, []).append((message, event))
        routed: list[_Routed] = []
        sessions = await self._find_chats(list(by_chat))
        for contact, entries in by_chat.items():
            session = sessions[contact]
            for message, event in entries:
                if session is None:
                    outcomes[message.message_id] = self._no_session(event)
                    continue
                key = event.item_id or message.dedup_key
                if await self._told_window_closed(session, event, key):
                    outcomes[message.message_id] = DONE
                    continue
                item = AgentItem(
                    session.customer_key, key, message.payload, message.attributes, event
                )
                routed.append(_Routed(message.message_id, item))
        if routed:
            await self._store_items(routed, outcomes)
        return outcomes

    async def _find_chats(self, contacts: Sequence[str]) -> dict[str, Session | None]:
        """Each chat's session, looked up at once: a batch carries items of up to ten
        chats, and read in a row each batch waited for every read in turn (DynamoDB reads
        of ~5-10 ms each, against a batch's single write)."""
        if len(contacts) == 1:
            return {contacts[0]: await self._sessions.find_by_initial_contact(contacts[0])}
        try:
            async with asyncio.TaskGroup() as group:
                lookups = {
                    c: group.create_task(self._sessions.find_by_initial_contact(c))
                    for c in contacts
                }
        except ExceptionGroup as failed:
            # The batch's outcome is decided from the bridge's own error types, as when
            # the reads ran in a row and the first failure ended them.
            raise failed.exceptions[0] from None
        return {contact: lookup.result() for contact, lookup in lookups.items()}

    def _parse(self, message: QueueItem, outcomes: dict[str, Outcome]) -> ConnectEvent | None:
        try:
            return parse_streaming_record(message.payload, message_attributes=message.attributes)
        except Exception as exc:  # noqa: BLE001  whatever the parser chokes on is this record's
            reason = (
                str(exc)
                if isinstance(exc, MalformedStreamingEventError)
                else f"parser raised {type(exc).__name__}"
            )
            log.warning("outbound_event_malformed", message_id=message.message_id)
            outcomes[message.message_id] = park(f"malformed streaming event: {reason}", "malformed")
            return None

    def _wanted(self, event: ConnectEvent) -> bool:
        """Whether the customer's lane has anything to do with this event."""
        options = self._options
        if isinstance(event, MessageEvent | AttachmentEvent | TypingEvent):
            return should_forward(
                event, forward_system=options.forward_system, forward_bots=options.forward_bots
            )
        if isinstance(event, ReceiptEvent):
            return (
                options.mark_read_on_agent_read
                and event.receipt == "read"
                and event.participant_role != ParticipantRole.CUSTOMER
            )
        return isinstance(event, ChatEndedEvent)

    async def _told_window_closed(self, session: Session, event: ConnectEvent, key: str) -> bool:
        """The `note` policy's answer, given now; False when the lane must decide."""
        if (
            self._notes is None
            or self._options.window_closed != "note"
            or not isinstance(event, MessageEvent | AttachmentEvent)
            or window_open(session.last_customer_message_at, self._clock.time())
            or (event.participant_id or None) == session.bot_participant_id
            or (isinstance(event, MessageEvent) and parse_command(event.content) is not None)
        ):
            return False
        note = window_closed_note(window_closes_at(session.last_customer_message_at))
        try:
            if not await self._notes.note(session, note, client_token=f"note-{key}#window"):
                return False  # the chat has ended: the lane settles it as it does any item
        except BridgeError as exc:
            log.info("window_note_deferred", error=type(exc).__name__)
            return False
        self._metrics.events.labels(event.kind, "window_closed").inc()
        return True

    def _no_session(self, event: ConnectEvent) -> Outcome:
        happened = parse_time(event.absolute_time)
        if happened is not None and self._clock.time() - happened < self._options.session_grace_s:
            return retry("no session yet", self._options.session_retry_s)
        self._metrics.events.labels(event.kind, "no_session").inc()
        log.info("outbound_no_session", kind=event.kind, contact_id=event.contact_id)
        return DONE

    async def _store_items(self, routed: list[_Routed], outcomes: dict[str, Outcome]) -> None:
        report = await self._store.write_agent_items([r.item for r in routed])
        for entry in routed:
            key = (entry.item.customer_key, AGENT_PREFIX + entry.item.key)
            if key in report.rejected:
                outcomes[entry.message_id] = park(report.rejected[key], "rejected")
            elif key in report.unwritten:
                outcomes[entry.message_id] = Outcome(Settle.RETRY, report.unwritten[key])
            else:
                self._metrics.events.labels(entry.item.event.kind, "routed").inc()
                outcomes[entry.message_id] = DONE
