"""Inbound queue handler: EUM events in, raw-message items out.

For each SQS message: parse the EUM event; write its WhatsApp messages to the raw table;
hand its status updates (delivered/read/failed of our own sends) to the outbound side.
The SQS message is DONE only once its raw items are durably written (DESIGN §5.1). An
event that cannot be parsed is POISON: logged without PII, counted and parked in the DLQ
at once, and the rest of the batch flows on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

import structlog
from prometheus_client import CollectorRegistry, Counter

from service.bridge.eum_events import (
    InboundMessage,
    MalformedEventError,
    ParsedEvent,
    StatusUpdate,
    parse_eum_event,
)
from service.bridge.raw_store import RawMessageWriter, RawWriteError
from service.consumers.queue_message import QueueMessage
from service.consumers.sqs import DONE, Outcome, Verdict

log = structlog.get_logger(__name__)

StatusSink = Callable[[Sequence[StatusUpdate]], Awaitable[None]]
ReceivedHook = Callable[[Sequence[InboundMessage]], Awaitable[None]]


class InboundMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "bridge_inbound_messages",
            "WhatsApp messages received and stored, by type",
            ["type"],
            registry=registry,
        )
        self.statuses = Counter(
            "bridge_whatsapp_statuses",
            "Status updates of messages the bridge sent, by status",
            ["status"],
            registry=registry,
        )
        self.malformed = Counter(
            "bridge_inbound_malformed_events",
            "Inbound events that could not be parsed (parked in the DLQ)",
            registry=registry,
        )


class InboundQueueHandler:
    def __init__(
        self,
        *,
        writer: RawMessageWriter,
        metrics: InboundMetrics,
        on_statuses: StatusSink | None = None,
        on_received: ReceivedHook | None = None,
    ) -> None:
        self._writer = writer
        self._metrics = metrics
        self._on_statuses = on_statuses
        self._on_received = on_received

    async def __call__(self, batch: Sequence[QueueMessage]) -> Mapping[str, Verdict]:
        verdicts: dict[str, Verdict] = {}
        parsed: dict[str, ParsedEvent] = {}
        for message in batch:
            try:
                parsed[message.message_id] = parse_eum_event(message.payload)
            except MalformedEventError as exc:
                self._metrics.malformed.inc()
                log.warning(
                    "inbound_event_malformed", message_id=message.message_id, reason=exc.reason
                )
                verdicts[message.message_id] = Verdict(
                    Outcome.POISON, f"malformed EUM event: {exc.reason}"
                )

        stored = await self._store(parsed, verdicts)
        statuses = [s for event in parsed.values() for s in event.statuses]
        if statuses:
            for update in statuses:
                self._metrics.statuses.labels(update.status).inc()
            if self._on_statuses is not None:
                await self._on_statuses(statuses)
        for message_id in parsed:
            verdicts.setdefault(message_id, DONE)
        if stored and self._on_received is not None:
            await self._on_received(stored)
        return verdicts

    async def _store(
        self, parsed: Mapping[str, ParsedEvent], verdicts: dict[str, Verdict]
    ) -> list[InboundMessage]:
        messages = [m for event in parsed.values() for m in event.messages]
        if not messages:
            return []
        try:
            await self._writer.write(messages)
        except RawWriteError as exc:
            # Only the SQS messages whose items are missing are retried; the others are safe.
            for sqs_id, event in parsed.items():
                if any((m.customer_key, m.message_id) in exc.failed for m in event.messages):
                    verdicts[sqs_id] = Verdict(Outcome.RETRY, "raw write throttled")
            return [m for m in messages if (m.customer_key, m.message_id) not in exc.failed]
        for message in messages:
            self._metrics.messages.labels(message.type.value).inc()
        log.info("inbound_messages_stored", messages=len(messages), events=len(parsed))
        return messages
