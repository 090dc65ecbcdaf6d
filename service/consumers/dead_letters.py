"""The one dead-letter format, for both queues' messages and the stream's records.

Whatever the bridge parks, it parks the same way: the original payload as the body (an SQS
message's own body, or a stream record as JSON with its raw item), and message attributes
an operator (and the console) reads without opening the body:

- `bridge_reason`: why, in words free of personal data (at most 256 characters);
- `bridge_source`: `inbound`, `outbound` or `stream`;
- `bridge_cause`: one fixed word for counting (`malformed`, `rejected`, `retries_exhausted`…);
- `bridge_parked_at`: when, ISO 8601 UTC.

Redriving a parked queue message puts it back on its queue as it came; a parked stream
record is replayed through the inbound queue's raw-item path (the console does both).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from service.aws_errors import translated
from service.clock import SYSTEM_CLOCK, Clock
from service.consumers.stream.records import StreamRecord

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageAttributeValueTypeDef

REASON: Final = "bridge_reason"
SOURCE: Final = "bridge_source"
CAUSE: Final = "bridge_cause"
PARKED_AT: Final = "bridge_parked_at"
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


def read_attributes(raw: dict[str, dict[str, str]]) -> ParkedFacts | None:
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
