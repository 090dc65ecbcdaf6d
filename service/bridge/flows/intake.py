"""Inbound queue handler: EUM events in, raw-message items out.

For each SQS message: parse the EUM event; write its WhatsApp messages to the raw table;
hand its status updates (delivered/read/failed of our own sends) to the outbound side.
The SQS message is DONE only once its raw items are durably written (DESIGN §5.1). An
event that cannot be parsed, or whose item DynamoDB can never take, is POISON: logged
without PII and parked in the DLQ at once (the consumer counts it), and the rest of the
batch flows on. Whatever one event does, the others get their own verdicts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

import structlog
from prometheus_client import CollectorRegistry, Counter

from service.bridge.adapters.raw_messages import RawMessageWriter
from service.bridge.events.eum import parse_eum_event
from service.bridge.events.transport import DONE, Outcome, QueueItem, Settle
from service.bridge.events.whatsapp import (
    InboundMessage,
    MalformedEventError,
    ParsedEvent,
    StatusUpdate,
    SystemPayload,
)
from service.errors import RetryableError, ThrottledError

log = structlog.get_logger(__name__)

StatusSink = Callable[[Sequence[StatusUpdate]], Awaitable[None]]
ReceivedHook = Callable[[Sequence[InboundMessage]], Awaitable[None]]
# Told of stored system messages that change who the customer is (`flows.identity`).
IdentityHook = Callable[[Sequence[InboundMessage]], Awaitable[None]]


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


def _malformed(reason: str) -> Outcome:
    return Outcome(Settle.PARK, f"malformed EUM event: {reason}", cause="malformed")


class InboundQueueHandler:
    """Per SQS message: parse, store, hand statuses on; a verdict for each, always."""

    def __init__(
        self,
        *,
        writer: RawMessageWriter,
        metrics: InboundMetrics,
        on_statuses: StatusSink | None = None,
        on_received: ReceivedHook | None = None,
        on_identity_changes: IdentityHook | None = None,
    ) -> None:
        self._writer = writer
        self._metrics = metrics
        self._on_statuses = on_statuses
        self._on_received = on_received
        self._on_identity_changes = on_identity_changes

    async def __call__(self, batch: Sequence[QueueItem]) -> Mapping[str, Outcome]:
        verdicts: dict[str, Outcome] = {}
        parsed: dict[str, ParsedEvent] = {}
        for message in batch:
            parsed_event = self._parse(message, verdicts)
            if parsed_event is not None:
                parsed[message.message_id] = parsed_event
        stored = await self._store(parsed, verdicts)
        for sqs_id, event in parsed.items():
            if sqs_id not in verdicts:
                verdicts[sqs_id] = await self._identities(event)
            if sqs_id not in verdicts or verdicts[sqs_id] is DONE:
                verdicts[sqs_id] = await self._statuses(event)
        if stored and self._on_received is not None:
            try:
                await self._on_received(stored)
            except Exception:
                log.exception("inbound_received_hook_failed")
        return verdicts

    def _parse(self, message: QueueItem, verdicts: dict[str, Outcome]) -> ParsedEvent | None:
        try:
            return parse_eum_event(message.payload)
        except MalformedEventError as exc:
            verdicts[message.message_id] = _malformed(exc.reason)
        except Exception as exc:  # noqa: BLE001  any input the parser chokes on is this message's
            verdicts[message.message_id] = _malformed(f"parser raised {type(exc).__name__}")
        log.warning(
            "inbound_event_malformed",
            message_id=message.message_id,
            reason=verdicts[message.message_id].reason,
        )
        return None

    async def _identities(self, event: ParsedEvent) -> Outcome:
        """Re-key the session before the SQS message is done: a failure retries the event
        (its raw items are rewritten as the same items, which the stream ignores)."""
        changes = [
            m
            for m in event.messages
            if isinstance(m.payload, SystemPayload) and m.payload.changes_identity
        ]
        if not changes or self._on_identity_changes is None:
            return DONE
        try:
            await self._on_identity_changes(changes)
        except RetryableError as exc:
            retry_after = exc.retry_after_s if isinstance(exc, ThrottledError) else None
            return Outcome(Settle.RETRY, f"identity change: {type(exc).__name__}", retry_after)
        except Exception as exc:
            log.exception("inbound_identity_change_failed")
            return Outcome(Settle.RETRY, f"identity change raised {type(exc).__name__}")
        return DONE

    async def _statuses(self, event: ParsedEvent) -> Outcome:
        if not event.statuses:
            return DONE
        for update in event.statuses:
            self._metrics.statuses.labels(update.status).inc()
        if self._on_statuses is None:
            return DONE
        try:
            await self._on_statuses(event.statuses)
        except RetryableError as exc:
            retry_after = exc.retry_after_s if isinstance(exc, ThrottledError) else None
            return Outcome(Settle.RETRY, f"status feedback: {type(exc).__name__}", retry_after)
        except Exception as exc:
            log.exception("inbound_statuses_failed")
            return Outcome(Settle.RETRY, f"status feedback raised {type(exc).__name__}")
        return DONE

    async def _store(
        self, parsed: Mapping[str, ParsedEvent], verdicts: dict[str, Outcome]
    ) -> list[InboundMessage]:
        messages = [m for event in parsed.values() for m in event.messages]
        if not messages:
            return []
        report = await self._writer.write(messages)
        for sqs_id, event in parsed.items():
            keys = [(m.customer_key, m.message_id) for m in event.messages]
            rejected = next((report.rejected[k] for k in keys if k in report.rejected), None)
            unwritten = next((report.unwritten[k] for k in keys if k in report.unwritten), None)
            if rejected is not None:
                verdicts[sqs_id] = Outcome(Settle.PARK, rejected, cause="rejected")
            elif unwritten is not None:
                # Only the SQS messages whose items are missing are retried; the others are safe.
                verdicts[sqs_id] = Outcome(Settle.RETRY, unwritten)
        stored = [m for m in messages if not report.failed((m.customer_key, m.message_id))]
        for message in stored:
            self._metrics.messages.labels(message.type.value).inc()
        log.info("inbound_messages_stored", messages=len(stored), events=len(parsed))
        return stored
