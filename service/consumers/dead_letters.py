"""The one dead-letter format, for both queues' messages and the stream's records.

Whatever the bridge parks, it parks the same way: the original payload as the body (an SQS
message's own body, or a stream record as JSON with its raw item), and message attributes
an operator (and the console) reads without opening the body:

- `bridge_reason`: why, in words free of personal data (at most 256 characters);
- `bridge_source`: `inbound`, `outbound` or `stream`;
- `bridge_cause`: one fixed word for counting (`malformed`, `rejected`, `retries_exhausted`…);
- `bridge_parked_at`: when, ISO 8601 UTC.

`ParkedMessages` is what an operator (the admin console) does with them: look without
opening the body, redrive, purge. Redriving a parked queue message puts its body back on
its queue as it came, marked `bridge_redriven_from`. A parked stream record cannot be
redriven: its raw items are already in the table, and writing them again is a MODIFY,
which the stream consumer ignores by design (only INSERTs are acted on); it stays parked
until an operator has read its reason and purges it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import structlog

from service.aws_errors import translated
from service.clock import SYSTEM_CLOCK, Clock
from service.consumers.stream.records import StreamRecord
from service.errors import BridgeError
from service.redaction import mask_text

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        MessageAttributeValueTypeDef,
        MessageTypeDef,
    )

log = structlog.get_logger(__name__)

REASON: Final = "bridge_reason"
SOURCE: Final = "bridge_source"
CAUSE: Final = "bridge_cause"
PARKED_AT: Final = "bridge_parked_at"
REDRIVEN_FROM: Final = "bridge_redriven_from"
# Parked by the stream consumer: not redrivable (see the module docstring).
STREAM_SOURCE: Final = "stream"
_MAX_ATTRIBUTE_LEN: Final = 256


@dataclass(frozen=True, slots=True)
class ParkedFacts:
    """What the attributes of a parked message say."""

    reason: str
    source: str
    cause: str
    parked_at: str | None = None


def attributes(facts: ParkedFacts) -> dict[str, MessageAttributeValueTypeDef]:
    values = {
        REASON: (facts.reason or "unspecified")[:_MAX_ATTRIBUTE_LEN],
        SOURCE: facts.source,
        CAUSE: facts.cause,
        PARKED_AT: facts.parked_at or "",
    }
    return {
        name: {"DataType": "String", "StringValue": value}
        for name, value in values.items()
        if value
    }


def read_attributes(raw: Mapping[str, Mapping[str, Any]]) -> ParkedFacts | None:
    """The facts of a message received from a DLQ; None if the bridge did not park it."""
    reason = raw.get(REASON, {}).get("StringValue")
    if reason is None:
        return None
    return ParkedFacts(
        reason=reason,
        source=raw.get(SOURCE, {}).get("StringValue", ""),
        cause=raw.get(CAUSE, {}).get("StringValue", ""),
        parked_at=raw.get(PARKED_AT, {}).get("StringValue"),
    )


class DeadLetterQueue:
    def __init__(self, *, sqs: SQSClient, queue_url: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._clock = clock

    async def park(self, body: str, *, reason: str, source: str, cause: str) -> None:
        """Send `body` to the DLQ with its facts; raises the typed error if SQS refuses."""
        parked_at = datetime.fromtimestamp(self._clock.time(), UTC).isoformat(timespec="seconds")
        facts = ParkedFacts(reason=reason, source=source, cause=cause, parked_at=parked_at)
        with translated("sqs", "SendMessage"):
            await self._sqs.send_message(
                QueueUrl=self._queue_url, MessageBody=body, MessageAttributes=attributes(facts)
            )


class StreamDeadLetters:
    """Parks stream records: the raw item and where it came from, in the one format."""

    def __init__(self, queue: DeadLetterQueue) -> None:
        self._queue = queue

    async def park(self, record: StreamRecord, *, reason: str) -> None:
        body = {
            "source": "raw-messages-stream",
            "shard_id": record.shard_id,
            "sequence_number": record.sequence_number,
            "keys": record.keys,
            "new_image": record.new_image,
            "reason": reason,
        }
        await self._queue.park(
            json.dumps(body, default=str), reason=reason, source="stream", cause="undeliverable"
        )


@dataclass(frozen=True, slots=True)
class DeadLetterRoute:
    """One dead-letter queue and the queue its messages are redriven to."""

    name: str  # "inbound" / "outbound": what the console shows
    dlq_url: str
    source_url: str


@dataclass(frozen=True, slots=True)
class ParkedMessage:
    """A parked message as an operator sees it: its facts, never its body."""

    message_id: str
    reason: str
    source: str
    cause: str
    parked_at: str | None
    first_seen: str | None  # when it entered the DLQ (SQS's SentTimestamp)
    receives: int  # receives in the DLQ, looks included
    size: int
    redrivable: bool
    redriven_from: str | None


@dataclass(frozen=True, slots=True)
class Redriven:
    redriven: list[str]
    not_redrivable: list[str]
    failed: list[str]  # the send failed: still parked, try again later
    # Asked for but not in the DLQ (any more): already redriven or purged, so nothing is done.
    not_found: list[str]


def _iso_ms(millis: str | None) -> str | None:
    if not millis or not millis.isdigit():
        return None
    return datetime.fromtimestamp(int(millis) / 1000, UTC).isoformat(timespec="seconds")


def parked_message(message: MessageTypeDef) -> ParkedMessage:
    raw_attributes: Mapping[str, Mapping[str, Any]] = message.get("MessageAttributes", {})
    facts = read_attributes(raw_attributes)
    system = message.get("Attributes", {})
    redriven_from = raw_attributes.get(REDRIVEN_FROM, {}).get("StringValue")
    if facts is None:
        # Moved by the queue's redrive policy (maxReceiveCount) without the bridge's facts.
        facts = ParkedFacts(reason="moved by SQS after too many receives", source="", cause="")
    return ParkedMessage(
        message_id=message.get("MessageId", ""),
        reason=mask_text(facts.reason),
        source=facts.source,
        cause=facts.cause,
        parked_at=facts.parked_at,
        first_seen=_iso_ms(system.get("SentTimestamp")),
        receives=int(system.get("ApproximateReceiveCount", "0") or 0),
        size=len(message.get("Body", "").encode()),
        redrivable=facts.source != STREAM_SOURCE,
        redriven_from=redriven_from,
    )


class ParkedMessages:
    """Look at, redrive and purge the dead-letter queues, without ever reading a body out.

    SQS has no "peek": a look receives the messages with a short visibility timeout and
    makes them visible again at once (each look counts as a receive in the DLQ, which has
    no redrive policy of its own). A redrive receives, re-sends the chosen ones to their
    queue and deletes each only after its send succeeded; a message another operator is
    redriving at that moment is invisible, so it is reported not found, not sent twice.
    """

    def __init__(
        self,
        *,
        sqs: SQSClient,
        routes: Sequence[DeadLetterRoute],
        look_limit: int = 100,
        hold_s: int = 30,
    ) -> None:
        self._sqs = sqs
        self._routes = {route.name: route for route in routes}
        self._look_limit = look_limit
        self._hold_s = hold_s

    def queues(self) -> list[str]:
        return list(self._routes)

    def _route(self, queue: str) -> DeadLetterRoute:
        route = self._routes.get(queue)
        if route is None:
            raise KeyError(queue)
        return route

    async def look(self, queue: str) -> tuple[list[ParkedMessage], bool]:
        """Up to `look_limit` parked messages, oldest first; True when there may be more."""
        route = self._route(queue)
        received = await self._receive_all(route.dlq_url, self._look_limit)
        await self._release(route.dlq_url, received)
        parked = sorted((parked_message(m) for m in received), key=lambda p: p.first_seen or "")
        return parked, len(received) >= self._look_limit

    async def redrive(self, queue: str, message_ids: Sequence[str] | None) -> Redriven:
        """Re-send the chosen messages (None: every redrivable one) to their queue."""
        route = self._route(queue)
        wanted = None if message_ids is None else set(message_ids)
        received = await self._receive_all(route.dlq_url, limit=10_000, until=wanted)
        result = Redriven([], [], [], [])
        keep: list[MessageTypeDef] = []
        for message in received:
            parked = parked_message(message)
            if wanted is not None and parked.message_id not in wanted:
                keep.append(message)
            elif not parked.redrivable:
                result.not_redrivable.append(parked.message_id)
                keep.append(message)
            elif await self._resend(route, message):
                result.redriven.append(parked.message_id)
            else:
                result.failed.append(parked.message_id)
                keep.append(message)
        await self._release(route.dlq_url, keep)
        if wanted is not None:
            seen = {m.get("MessageId", "") for m in received}
            result.not_found.extend(sorted(wanted - seen))
        log.info(
            "dead_letters_redriven",
            queue=queue,
            redriven=len(result.redriven),
            not_redrivable=len(result.not_redrivable),
            not_found=len(result.not_found),
            failed=len(result.failed),
        )
        return result

    async def purge(self, queue: str) -> None:
        route = self._route(queue)
        with translated("sqs", "PurgeQueue"):
            await self._sqs.purge_queue(QueueUrl=route.dlq_url)
        log.info("dead_letters_purged", queue=queue)

    async def _resend(self, route: DeadLetterRoute, message: MessageTypeDef) -> bool:
        message_id = message.get("MessageId", "")
        try:
            with translated("sqs", "SendMessage"):
                await self._sqs.send_message(
                    QueueUrl=route.source_url,
                    MessageBody=message.get("Body", ""),
                    MessageAttributes={
                        REDRIVEN_FROM: {"DataType": "String", "StringValue": message_id}
                    },
                )
        except BridgeError as exc:
            log.warning("dead_letter_resend_failed", queue=route.name, error=type(exc).__name__)
            return False
        try:
            with translated("sqs", "DeleteMessage"):
                await self._sqs.delete_message(
                    QueueUrl=route.dlq_url, ReceiptHandle=message.get("ReceiptHandle", "")
                )
        except BridgeError:  # sent but still parked: say so, do not fail the batch
            # It shows up again in the DLQ; redriving it again sends a duplicate, which the
            # bridge absorbs like any SQS duplicate (raw items are written once; sends claimed).
            log.warning("dead_letter_delete_failed", queue=route.name, message_id=message_id)
        return True

    async def _receive_all(
        self, url: str, limit: int, until: set[str] | None = None
    ) -> list[MessageTypeDef]:
        received: list[MessageTypeDef] = []
        seen: set[str] = set()
        while len(received) < limit:
            with translated("sqs", "ReceiveMessage"):
                response = await self._sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=min(10, limit - len(received)),
                    WaitTimeSeconds=0,
                    VisibilityTimeout=self._hold_s,
                    MessageAttributeNames=["All"],
                    MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
                )
            batch = response.get("Messages", [])
            if not batch:
                break
            received.extend(batch)
            seen.update(m.get("MessageId", "") for m in batch)
            if until is not None and until <= seen:
                break
        return received

    async def _release(self, url: str, messages: Sequence[MessageTypeDef]) -> None:
        """Make the messages visible again at once (a look must not hide them for long)."""
        for start in range(0, len(messages), 10):
            entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
                {"Id": str(i), "ReceiptHandle": m.get("ReceiptHandle", ""), "VisibilityTimeout": 0}
                for i, m in enumerate(messages[start : start + 10])
            ]
            try:
                with translated("sqs", "ChangeMessageVisibility"):
                    await self._sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
            except BridgeError:  # they become visible by themselves after hold_s
                log.warning("dead_letters_release_failed", messages=len(entries))
