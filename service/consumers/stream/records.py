"""What the stream consumer hands to the bridge, and how the bridge acknowledges it."""

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class StreamRecord:
    """One new-message record (an INSERT with its NewImage), in low-level attribute form.

    A record is held from its read until it is acknowledged, which for a customer waiting
    in the buffer is most of what their message costs the task: botocore's nested
    attribute maps take ~2,150 bytes for a short text. So the maps are kept as one JSON
    string (~810 bytes with the record) and parsed again where they are read (the handler's
    decode, the burst's delivery, a dead letter: ~10 us each). The repr names no content.
    """

    __slots__ = (
        "_attributes",
        "approximate_created_at",
        "sequence_number",
        "shard_id",
        "shard_key",
    )

    def __init__(
        self,
        *,
        shard_key: str,
        shard_id: str,
        sequence_number: str,
        keys: Mapping[str, Any],
        new_image: Mapping[str, Any],
        approximate_created_at: datetime | None,
    ) -> None:
        self.shard_key = shard_key
        self.shard_id = shard_id
        self.sequence_number = sequence_number
        self.approximate_created_at = approximate_created_at
        attributes: str | tuple[Mapping[str, Any], Mapping[str, Any]]
        try:
            attributes = json.dumps([keys, new_image], separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError):
            # A binary attribute (bytes) has no JSON form: such a record is kept as read.
            attributes = (keys, new_image)
        self._attributes = attributes

    def _maps(self) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        if isinstance(self._attributes, str):
            keys, new_image = json.loads(self._attributes)
            return keys, new_image
        return self._attributes

    @property
    def keys(self) -> Mapping[str, Any]:
        return self._maps()[0]

    @property
    def new_image(self) -> Mapping[str, Any]:
        return self._maps()[1]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StreamRecord):
            return NotImplemented
        return (self.shard_id, self.sequence_number, self._maps()) == (
            other.shard_id,
            other.sequence_number,
            other._maps(),
        )

    def __hash__(self) -> int:
        return hash((self.shard_id, self.sequence_number))

    def __repr__(self) -> str:
        return f"StreamRecord(shard_id={self.shard_id!r}, sequence_number={self.sequence_number!r})"


class AckOutcome(StrEnum):
    DELIVERED = "delivered"
    PARKED = "parked"


class Ack:
    """Resolved once by the handler; only then may the shard's checkpoint pass the record.

    Resolving an ack after the shard was lost or handed over is harmless: the consumer
    ignores it, because the next owner re-reads the record from the checkpoint.
    """

    __slots__ = ("_on_done", "_outcome", "_parker", "_sequence_number")

    def __init__(
        self,
        *,
        sequence_number: str,
        on_done: Callable[[str, AckOutcome], None],
        parker: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._sequence_number = sequence_number
        self._on_done = on_done
        self._parker = parker
        self._outcome: AckOutcome | None = None

    @property
    def sequence_number(self) -> str:
        return self._sequence_number

    @property
    def outcome(self) -> AckOutcome | None:
        return self._outcome

    def delivered(self) -> None:
        self._resolve(AckOutcome.DELIVERED)

    async def park(self, reason: str) -> None:
        """Write the record to the dead-letter queue with `reason`, then resolve it.

        The consumer retries the write until it succeeds (or the shard is lost): a record
        is never counted done before it is durably parked.
        """
        if self._outcome is not None:
            return
        if self._parker is not None:
            await self._parker(reason)
        self._resolve(AckOutcome.PARKED)

    def _resolve(self, outcome: AckOutcome) -> None:
        if self._outcome is not None:
            return
        self._outcome = outcome
        self._on_done(self._sequence_number, outcome)


class StreamRecordHandler(Protocol):
    """The bridge's buffer, as the stream consumer sees it."""

    async def submit(self, record: StreamRecord, ack: Ack) -> None:
        """Take a record; may block to apply backpressure. Resolve `ack` later (delivered,
        or parked with a reason)."""

    async def flush_shard(self, shard_key: str) -> None:
        """Deliver this shard's buffered records now (graceful handoff)."""

    async def drop_shard(self, shard_key: str) -> None:
        """Forget this shard's undelivered records: another worker will re-read them."""

    async def flush_all(self) -> None:
        """Deliver every buffered record now (shutdown)."""


class DeadLetters(Protocol):
    """Durable parking for records the handler refused outright (SQS in production)."""

    async def park(self, record: StreamRecord, *, reason: str) -> None: ...


def parse_new_message(
    raw: Mapping[str, Any], *, shard_key: str, shard_id: str
) -> StreamRecord | None:
    """The record as a new message, or None when the bridge has nothing to do with it.

    Only INSERTs are new messages: a MODIFY is an SNS duplicate rewriting the same item
    and a REMOVE is a TTL delete.
    """
    body = raw.get("dynamodb") or {}
    sequence_number = body.get("SequenceNumber")
    new_image = body.get("NewImage")
    if raw.get("eventName") != "INSERT" or not new_image or sequence_number is None:
        return None
    return StreamRecord(
        shard_key=shard_key,
        shard_id=shard_id,
        sequence_number=str(sequence_number),
        keys=body.get("Keys") or {},
        new_image=new_image,
        approximate_created_at=body.get("ApproximateCreationDateTime"),
    )
