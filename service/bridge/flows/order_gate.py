"""Is an earlier agent message still on its way? Connect's transcript knows.

The customer's lane orders the agent's items by `AbsoluteTime` within a short reorder
window (`policy/lanes.py`). Connect streams to a standard SNS topic, so one item can take
much longer than the next to reach the lane: measured under a hostile flood with two
workers, an item's path (SNS, SQS, the router on a busy task, the stream) ran 13 s behind
the next one's, far beyond any window worth waiting on every message. The transcript is
the agent's own order, so before an agent message goes this gate asks it one question:
did the agent write a message between the last one this worker handled for the customer
and this one that the lane has not seen yet? If so the lane holds (bounded by its own
`max_gap_wait_s`) until it arrives.

The gate costs one GetTranscript for each message that follows another in the same
worker's memory; the first message for a customer after a start or a handoff goes on the
reorder window alone. A failing lookup never holds the lane: order is then as good as the
window makes it, and the item is not delayed by an outage of the transcript.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

import structlog

from service.bridge.adapters.connect_chat import TranscriptPage
from service.bridge.events.connect import AgentItem, AttachmentEvent, MessageEvent
from service.bridge.flows.ports import Chat, Sessions

log = structlog.get_logger(__name__)

# Transcript items the lane would carry to WhatsApp and whose order the customer sees.
_CONTENT_TYPES = frozenset({"MESSAGE", "ATTACHMENT"})
_SENDERS = frozenset({"AGENT", "SUPERVISOR"})


class Transcripts(Protocol):
    async def get_transcript(
        self, *, connection_token: str, start_time: str | None = None
    ) -> TranscriptPage: ...


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
        max_customers: int = 100_000,
    ) -> None:
        self._sessions = sessions
        self._chat = chat
        self._transcripts = transcripts
        self._max_customers = max_customers
        # Per customer: the agent clock and key of the last content item handled here.
        self._last: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def settled(self, item: AgentItem) -> None:
        if not isinstance(item.event, MessageEvent | AttachmentEvent):
            return
        previous = self._last.get(item.customer_key)
        if previous is None or previous[0] <= item.order_key:
            self._last[item.customer_key] = (item.order_key, item.key)
        self._last.move_to_end(item.customer_key)
        while len(self._last) > self._max_customers:
            self._last.popitem(last=False)

    def forget(self, customer_key: str) -> None:
        """The customer's shard went elsewhere: what this worker knew may be stale."""
        self._last.pop(customer_key, None)

    async def missing_before(self, item: AgentItem, pending: Sequence[AgentItem]) -> bool:
        event = item.event
        if not isinstance(event, MessageEvent | AttachmentEvent) or not event.initial_contact_id:
            return False
        last = self._last.get(item.customer_key)
        if last is None or last[0] >= item.order_key:
            return False
        session = await self._sessions.find_by_initial_contact(event.initial_contact_id)
        if session is None:
            return False
        start = _iso(last[0])

        async def page(token: str) -> TranscriptPage:
            return await self._transcripts.get_transcript(connection_token=token, start_time=start)

        transcript = await self._chat.call(session, page)
        known = {other.key for other in pending} | {item.key, last[1]}
        for entry in transcript.items:
            if entry.get("Type") not in _CONTENT_TYPES:
                continue
            if entry.get("ParticipantRole") not in _SENDERS or entry.get("Id") in known:
                continue
            written = _epoch(entry.get("AbsoluteTime"))
            if written is not None and last[0] < written < item.order_key:
                log.info("lane_waits_for_earlier_item", contact_id=event.contact_id)
                return True
        return False
