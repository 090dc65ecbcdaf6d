"""The outbound queue: batches of Connect streaming records, in each chat's order.

Per SQS batch: parse every record, group the events by chat (InitialContactId, which
survives transfers), and handle each chat's events one at a time in AbsoluteTime order,
chats in parallel. A per-chat lock carries that order across batches handled at the same
time. Its limit: SQS standard queues reorder, so an earlier event that arrives in a later
batch is sent late, never put back in place after the fact. Once a chat's content is
retried, the chat's later content in the batch is retried too, so it cannot overtake.
Every record gets its own outcome, whatever the others do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import structlog

from service.bridge.events.connect import (
    AttachmentEvent,
    ChatEndedEvent,
    ConnectEvent,
    MalformedStreamingEventError,
    MessageEvent,
    parse_streaming_record,
)
from service.bridge.events.transport import DONE, Outcome, QueueItem, Settle
from service.bridge.flows.reply import AgentReplies, OutboundMetrics

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Queued:
    message_id: str
    dedup_key: str
    event: ConnectEvent


class OutboundBatch:
    """The outbound queue's flow: one outcome per record."""

    def __init__(self, *, replies: AgentReplies, metrics: OutboundMetrics) -> None:
        self._replies = replies
        self._metrics = metrics
        self._locks: dict[str, asyncio.Lock] = {}
        self._lock_users: dict[str, int] = {}

    async def __call__(self, batch: Sequence[QueueItem]) -> Mapping[str, Outcome]:
        verdicts: dict[str, Outcome] = {}
        chats: dict[str, list[_Queued]] = {}
        for message in batch:
            try:
                event = parse_streaming_record(
                    message.payload, message_attributes=message.attributes
                )
            except Exception as exc:  # noqa: BLE001  whatever the parser chokes on is this record's
                reason = (
                    str(exc)
                    if isinstance(exc, MalformedStreamingEventError)
                    else f"parser raised {type(exc).__name__}"
                )
                log.warning("outbound_event_malformed", message_id=message.message_id)
                verdicts[message.message_id] = Outcome(
                    Settle.PARK, f"malformed streaming event: {reason}", cause="malformed"
                )
                continue
            if event.initial_contact_id is None:
                self._metrics.events.labels(event.kind, "no_contact").inc()
                log.info("outbound_event_without_contact", kind=event.kind)
                verdicts[message.message_id] = DONE
                continue
            chats.setdefault(event.initial_contact_id, []).append(
                _Queued(message.message_id, message.dedup_key, event)
            )
        async with asyncio.TaskGroup() as tasks:
            for contact, queued in chats.items():
                tasks.create_task(self._chat(contact, queued, verdicts))
        return verdicts

    @contextmanager
    def _lock_count(self, contact: str) -> Iterator[asyncio.Lock]:
        lock = self._locks.setdefault(contact, asyncio.Lock())
        self._lock_users[contact] = self._lock_users.get(contact, 0) + 1
        try:
            yield lock
        finally:
            self._lock_users[contact] -= 1
            if not self._lock_users[contact]:
                del self._lock_users[contact]
                del self._locks[contact]

    async def _chat(
        self, contact: str, queued: list[_Queued], verdicts: dict[str, Outcome]
    ) -> None:
        ordered = sorted(queued, key=lambda q: _time_key(q.event.absolute_time))
        held: Outcome | None = None
        with self._lock_count(contact) as lock:
            async with lock:
                for entry in ordered:
                    content = isinstance(entry.event, MessageEvent | AttachmentEvent)
                    # Ending the chat after held content would delete the session the
                    # held messages still need: it waits behind them too.
                    ordered_after = content or isinstance(entry.event, ChatEndedEvent)
                    if held is not None and ordered_after:
                        verdicts[entry.message_id] = Outcome(
                            Settle.RETRY, "held behind an earlier message", held.retry_after_s
                        )
                        continue
                    verdict = await self._replies.handle(entry.event, entry.dedup_key)
                    verdicts[entry.message_id] = verdict
                    if content and verdict.settle is Settle.RETRY:
                        held = verdict


def _time_key(value: str | None) -> float:
    # Events without a time keep their arrival order after the timed ones (sort is stable).
    if value:
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            pass
    return float("inf")
