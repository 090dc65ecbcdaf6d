"""Is an earlier agent message still on its way? Connect's transcript and the raw table know.

The customer's lane orders the agent's items by `AbsoluteTime` within a short reorder
window (`policy/lanes.py`). Connect streams to a standard SNS topic, so one item can take
much longer than the next to reach the lane: measured under a hostile flood with two
workers, an item's path ran 13 s behind the next one's, and a chat's first reply waits in
the router while the chat's session is not stored yet, so its successor overtakes it.
No window worth waiting on every message covers that.

Before an agent message goes, as soon as it heads its lane, the gate asks two stores a
question each and answers `MISSING` (wait), `CLEAR` (checked: go at once, without the
reorder window) or `UNCHECKED` (the window alone orders it):

1. Connect's transcript (the agent's own order): which agent messages and attachments were
   written in the `horizon_s` before this one that the lane neither holds nor has handled?
2. The raw-messages table: has the outbound router written them yet? The table's stream
   carries one customer's items in the order they were written, so one that was written
   well before this one already reached the lane (held, handled, or handled by the shard's
   previous owner). One that is not written yet, or was written a moment ago (it may be
   right behind this one in the stream), is still on its way: the lane holds.

Costs: one GetTranscript per burst of a chat's agent messages, not per message, and a
BatchGetItem only when the transcript shows a message this worker has not seen. The
transcript is in the agent's order, so a page that shows an item shows every item written
before it: the gate keeps each customer's last page and answers from it for every item it
shows (the rest of a burst, and the head it holds while it asks again). Asking per
message spent the quota on items an earlier page already answered for: measured with three
workers after a SIGTERM handoff, the new owner's limiter was empty for half of a round of
replies, those went on the window alone, and a reply that overtook a slower one went first.
GetTranscript's quota is 8 calls a second per instance, far below what a contact centre's
agents can write: the gate waits for a call only when the client-side limiter will have
one within `quota_wait_s` (2 s, counting the lanes already waiting) and otherwise lets the
message go on the reorder window alone (`order_gate_skipped_quota`), so it never caps
throughput and adds at most that wait. Asking only when a call was there that instant
was not enough: measured with three workers after a 30 s AWS outage, the backlog of 30
chats' replies reached the owner at once, the limiter's burst of 12 was spent within a
second, two replies went unchecked and each overtook a slower predecessor; the quota
answers those 30 chats in 2.3 s. A failing lookup never holds
the lane (the lane decides; see `AgentLanes`), and the lane holds at most
`max_gap_wait_s` in any case.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import structlog

from service.bridge.adapters.connect_chat import TranscriptPage
from service.bridge.events.connect import AgentItem, AttachmentEvent, MessageEvent
from service.bridge.flows.ports import Chat, Sessions
from service.bridge.policy.lanes import GateAnswer
from service.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from types_aiobotocore_connectparticipant.type_defs import ItemTypeDef

log = structlog.get_logger(__name__)

# Transcript items the lane would carry to WhatsApp and whose order the customer sees.
_CONTENT_TYPES = frozenset({"MESSAGE", "ATTACHMENT"})
_SENDERS = frozenset({"AGENT", "SUPERVISOR"})


class Transcripts(Protocol):
    async def transcript_if_quota(
        self, *, connection_token: str, start_time: str | None = None, within_s: float = 0.0
    ) -> TranscriptPage | None: ...


class StoredAgentItems(Protocol):
    async def stored_agent_items(
        self, customer_key: str, keys: Collection[str]
    ) -> dict[str, int]: ...


@dataclass(frozen=True, slots=True)
class _Page:
    """What one transcript page told about a customer's chat."""

    # Every message and attachment on the page that a lane could carry: anyone's but the
    # customer's (those never travel a lane, and a chatty customer's would fill memory).
    shown: frozenset[str]
    agent: tuple[tuple[str, float], ...]  # the agent's ones: (Id, AbsoluteTime)

    @classmethod
    def of(cls, items: Sequence[ItemTypeDef]) -> _Page:
        content = [
            entry
            for entry in items
            if entry.get("Type") in _CONTENT_TYPES and entry.get("ParticipantRole") != "CUSTOMER"
        ]
        agent = tuple(
            (str(entry.get("Id")), written)
            for entry in content
            if entry.get("ParticipantRole") in _SENDERS
            and (written := _epoch(entry.get("AbsoluteTime"))) is not None
        )
        return cls(frozenset(str(entry.get("Id")) for entry in content), agent)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def _epoch(value: object) -> float | None:
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


class TranscriptOrderGate:
    def __init__(
        self,
        *,
        sessions: Sessions,
        chat: Chat,
        transcripts: Transcripts,
        stored: StoredAgentItems,
        clock: Clock = SYSTEM_CLOCK,
        horizon_s: float = 120.0,
        in_stream_s: float = 5.0,
        quota_wait_s: float = 2.0,
        max_customers: int = 10_000,
        per_customer: int = 64,
    ) -> None:
        self._sessions = sessions
        self._chat = chat
        self._transcripts = transcripts
        self._stored = stored
        self._clock = clock
        self._horizon_s = horizon_s
        # An item written this recently may still be behind the one asking, in the stream.
        self._in_stream_s = in_stream_s
        self._quota_wait_s = quota_wait_s
        self._max_customers = max_customers
        self._per_customer = per_customer
        # Per customer: the keys of agent items this worker knows reached the lane.
        self._seen: OrderedDict[str, deque[str]] = OrderedDict()
        # Per customer: the last transcript page asked for.
        self._pages: OrderedDict[str, _Page] = OrderedDict()

    def settled(self, item: AgentItem) -> None:
        self._remember(item.customer_key, [item.key])

    def forget(self, customer_key: str) -> None:
        """The customer's shard went elsewhere: what this worker knew may be stale."""
        self._seen.pop(customer_key, None)
        self._pages.pop(customer_key, None)

    async def check(self, item: AgentItem, pending: Sequence[AgentItem]) -> GateAnswer:
        event = item.event
        if not isinstance(event, MessageEvent | AttachmentEvent) or not event.initial_contact_id:
            return GateAnswer.UNCHECKED
        if item.order_key == float("inf"):
            return GateAnswer.UNCHECKED  # no time of its own: nothing to be earlier than
        page = self._pages.get(item.customer_key)
        if page is None or item.key not in page.shown:
            # A page asked for a later item may start a little after this one's horizon;
            # what it leaves out is that old, and no reorder window is about it.
            page = await self._ask(item, event.initial_contact_id)
            if page is None:
                return GateAnswer.UNCHECKED
        known = {other.key for other in pending} | {item.key}
        known.update(self._seen.get(item.customer_key, ()))
        unseen = [
            key
            for key, written in page.agent
            if key not in known and item.order_key - self._horizon_s <= written < item.order_key
        ]
        if not unseen:
            return GateAnswer.CLEAR
        if await self._on_its_way(item, unseen):
            return GateAnswer.MISSING
        return GateAnswer.CLEAR

    async def _ask(self, item: AgentItem, initial_contact_id: str) -> _Page | None:
        """The transcript from `item`'s horizon on, kept for the customer; None: not asked."""
        session = await self._sessions.find_by_initial_contact(initial_contact_id)
        if session is None:
            return None
        start = _iso(item.order_key - self._horizon_s)

        async def one_page(token: str) -> TranscriptPage | None:
            return await self._transcripts.transcript_if_quota(
                connection_token=token, start_time=start, within_s=self._quota_wait_s
            )

        transcript = await self._chat.call(session, one_page)
        if transcript is None:
            # No GetTranscript to spare within `quota_wait_s`: the reorder window alone
            # orders this one rather than the check slowing every agent's messages to the
            # quota's pace.
            log.info("order_gate_skipped_quota")
            return None
        page = _Page.of(transcript.items)
        self._pages[item.customer_key] = page
        self._pages.move_to_end(item.customer_key)
        while len(self._pages) > self._max_customers:
            self._pages.popitem(last=False)
        return page

    async def _on_its_way(self, item: AgentItem, unseen: list[str]) -> bool:
        stored = await self._stored.stored_agent_items(item.customer_key, unseen)
        recent_ms = (self._clock.time() - self._in_stream_s) * 1000
        on_its_way = [k for k in unseen if k not in stored or stored[k] >= recent_ms]
        # Written long enough ago: it reached the lane before this one (handled here
        # before this worker's memory, or by the shard's previous owner).
        self._remember(item.customer_key, [k for k in unseen if k not in on_its_way])
        if on_its_way:
            log.info("lane_waits_for_earlier_item", contact_id=item.event.contact_id)
            return True
        return False

    def _remember(self, customer_key: str, keys: Collection[str]) -> None:
        if not keys:
            return
        seen = self._seen.get(customer_key)
        if seen is None:
            seen = self._seen[customer_key] = deque(maxlen=self._per_customer)
        seen.extend(keys)
        self._seen.move_to_end(customer_key)
        while len(self._seen) > self._max_customers:
            self._seen.popitem(last=False)
