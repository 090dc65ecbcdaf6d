"""The raw-messages table: one item per WhatsApp message, written before SQS lets go of it.

Key: `customer` (business phone-number id + customer identity) and `message_id`, so one
customer's messages share a partition and therefore a stream shard, which is what lets
one worker buffer all of a customer's messages. The parsed message is stored as a JSON
string (`message`), not a DynamoDB map: floats (coordinates, prices) would need Decimal
conversion and nothing queries inside it.

A message EUM delivers twice rewrites the same item; the stream then carries a MODIFY (or
nothing), never a second INSERT, and only INSERTs are acted on. Nothing else is ever
written here: a status written back would feed the table's own stream.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from service import dynamo
from service.aws_errors import ErrorKind, classify, translated
from service.backoff import Attempts, Backoff
from service.bridge.adapters.batch_writes import BATCH_LIMIT, put_batch
from service.bridge.events.codec import from_compact, to_compact
from service.bridge.events.connect import AgentItem
from service.bridge.events.whatsapp import InboundMessage
from service.clock import SYSTEM_CLOCK, Clock
from service.errors import ThrottledError
from service.resources import RAW_MESSAGE_TTL_S, TTL_ATTRIBUTE

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

log = structlog.get_logger(__name__)


# DynamoDB's own limits (reference limits.md §3): a write naming an item beyond them is
# refused with a ValidationException for the whole batch, so they are checked first.
_PARTITION_KEY_MAX_BYTES = 2048
_SORT_KEY_MAX_BYTES = 1024
_ITEM_MAX_BYTES = 400 * 1024

Key = tuple[str, str]  # (customer key, WhatsApp message id)


@dataclass(slots=True)
class WriteReport:
    """What `RawMessageWriter.write` could not do, per message key.

    `rejected` items can never be written (too large, a key too long): their events are
    poison. `unwritten` items failed for a reason that may pass (throttling, an outage):
    their events are retried. Every other message was written durably.
    """

    rejected: dict[Key, str] = field(default_factory=dict)
    unwritten: dict[Key, str] = field(default_factory=dict)

    def failed(self, key: Key) -> bool:
        return key in self.rejected or key in self.unwritten


def raw_item(message: InboundMessage, *, received_at_ms: int) -> dict[str, Any]:
    """The item in DynamoDB's low-level attribute form."""
    # ensure_ascii=False: escaping every non-ASCII character as \uXXXX would make a
    # customer's Chinese or Arabic text six times its size against the 400 KB item limit.
    compact = json.dumps(to_compact(message), separators=(",", ":"), ensure_ascii=False)
    return dynamo.encode(
        {
            "customer": message.customer_key,
            "message_id": message.message_id,
            "message": compact,
            "wa_timestamp": message.timestamp,
            "received_at_ms": received_at_ms,
            TTL_ATTRIBUTE: received_at_ms // 1000 + RAW_MESSAGE_TTL_S,
        }
    )


def item_problem(item: Mapping[str, Any]) -> str | None:
    """Why DynamoDB would refuse this item, or None; the reason names no content."""
    if len(item["customer"]["S"].encode()) > _PARTITION_KEY_MAX_BYTES:
        return "customer key over DynamoDB's 2,048-byte partition key limit"
    if len(item["message_id"]["S"].encode()) > _SORT_KEY_MAX_BYTES:
        return "message id over DynamoDB's 1,024-byte sort key limit"
    size = sum(
        len(name.encode()) + len(next(iter(v.values())).encode()) for name, v in item.items()
    )
    if size > _ITEM_MAX_BYTES:
        return f"message of {size // 1024} KB over DynamoDB's 400 KB item limit"
    return None


AGENT_PREFIX: Final = "agent#"
_AGENT: Final = "agent"
_BATCH_GET_MAX: Final = 100  # BatchGetItem's limit of keys per request
_UNPROCESSED_BACKOFF: Final = Backoff(base_s=0.05, max_s=1.0)
_UNPROCESSED_ATTEMPTS: Final = 6


def agent_item(item: AgentItem, *, received_at_ms: int) -> dict[str, Any]:
    """An agent's Connect item, stored under the customer's key so it travels their shard."""
    return dynamo.encode(
        {
            "customer": item.customer_key,
            "message_id": AGENT_PREFIX + item.key,
            "kind": _AGENT,
            "payload": item.payload,
            "attributes": json.dumps(dict(item.attributes), ensure_ascii=False),
            "received_at_ms": received_at_ms,
            TTL_ATTRIBUTE: received_at_ms // 1000 + RAW_MESSAGE_TTL_S,
        }
    )


def decode_image(image: Mapping[str, Any]) -> InboundMessage | AgentItem:
    """A stream record's NewImage back into what it holds; ValueError if unusable."""
    try:
        values = dynamo.decode(image)
        if values.get("kind") == _AGENT:
            return AgentItem.of(
                customer_key=values["customer"],
                key=values["message_id"].removeprefix(AGENT_PREFIX),
                payload=values["payload"],
                attributes=json.loads(values["attributes"]),
            )
        return from_compact(json.loads(values["message"]))
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"raw item without a usable message: {type(exc).__name__}") from exc


def decode_message(image: Mapping[str, Any]) -> InboundMessage:
    """A customer's message from a raw item; ValueError for anything else."""
    decoded = decode_image(image)
    if not isinstance(decoded, InboundMessage):
        raise ValueError("raw item is an agent item, not a customer message")  # noqa: TRY004
    return decoded


def _key(item: Mapping[str, Any]) -> Key:
    values = dynamo.decode(item)
    return (values["customer"], values["message_id"])


class RawMessageWriter:
    def __init__(
        self,
        *,
        dynamodb: DynamoDBClient,
        table: str,
        max_attempts: int = 6,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        on_written: Callable[[], None] | None = None,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._max_attempts = max_attempts
        # Told after items reached the table: the stream readers of this process need not
        # wait out an idle shard's back-off to see them.
        self._on_written = on_written
        self._clock = clock
        self._rng = rng or random.Random()

    async def write(self, messages: Sequence[InboundMessage]) -> WriteReport:
        """Write every message durably; the report names those that were not written."""
        now_ms = int(self._clock.time() * 1000)
        # One request per key: BatchWriteItem refuses duplicates within a call.
        unique = {
            (m.customer_key, m.message_id): raw_item(m, received_at_ms=now_ms) for m in messages
        }
        return await self._write_items(unique)

    async def write_agent_items(self, items: Sequence[AgentItem]) -> WriteReport:
        """Write agent items under their customers' keys (keys: customer, `agent#<key>`)."""
        now_ms = int(self._clock.time() * 1000)
        unique = {
            (i.customer_key, AGENT_PREFIX + i.key): agent_item(i, received_at_ms=now_ms)
            for i in items
        }
        return await self._write_items(unique)

    async def _write_items(self, unique: Mapping[Key, dict[str, Any]]) -> WriteReport:
        report = WriteReport()
        items = []
        for key, item in unique.items():
            problem = item_problem(item)
            if problem is None:
                items.append(item)
            else:
                report.rejected[key] = problem
        for start in range(0, len(items), BATCH_LIMIT):
            await self._write_chunk(items[start : start + BATCH_LIMIT], report)
        if self._on_written is not None and items:
            # Also when some were refused: a spurious wake costs one early GetRecords.
            self._on_written()
        return report

    async def _write_chunk(self, items: list[dict[str, Any]], report: WriteReport) -> None:
        try:
            left = await self._batch_write(items)
        except (ClientError, BotoCoreError) as exc:
            failure = classify(exc, service="dynamodb", operation="BatchWriteItem")
            if failure.kind is ErrorKind.INVALID and len(items) > 1:
                # One item DynamoDB refuses fails the whole batch: find it, alone.
                for item in items:
                    await self._write_chunk([item], report)
                return
            why = f"raw write failed: {failure.code}"
            target = report.rejected if failure.kind is ErrorKind.INVALID else report.unwritten
            target.update(dict.fromkeys(map(_key, items), why))
            return
        report.unwritten.update(dict.fromkeys(map(_key, left), "raw write throttled"))

    async def _batch_write(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        left = await put_batch(
            self._dynamodb,
            table=self._table,
            items=items,
            max_attempts=self._max_attempts,
            clock=self._clock,
            rng=self._rng,
        )
        if left:
            log.warning("raw_write_unprocessed", items=len(left))
        return left


class RawMessageReader:
    """The customer's stored messages, for what the outbound side must point at.

    Read receipts and typing indicators name one of the customer's WhatsApp messages; the
    partition holds them all (for the table's TTL), so one strongly consistent query finds
    the latest. A customer writes few enough messages in a week for this to stay small.
    """

    def __init__(
        self,
        *,
        dynamodb: DynamoDBClient,
        table: str,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._clock = clock
        self._rng = rng or random.Random()

    async def messages(self, customer_key: str) -> list[InboundMessage]:
        """Oldest first (WhatsApp time, then arrival)."""
        found: list[tuple[int, int, InboundMessage]] = []
        start: dict[str, Any] | None = None
        while True:
            request: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "customer = :customer",
                "ExpressionAttributeValues": dynamo.encode({":customer": customer_key}),
                "ProjectionExpression": "message, wa_timestamp, received_at_ms, kind",
                "ConsistentRead": True,
            }
            if start is not None:
                request["ExclusiveStartKey"] = start
            with translated("dynamodb", "Query"):
                response = await self._dynamodb.query(**request)
            for item in response.get("Items", []):
                try:
                    message = decode_message(item)
                except ValueError:
                    continue  # an agent item, or unreadable
                values = dynamo.decode(item)
                found.append((values["wa_timestamp"], values["received_at_ms"], message))
            start = response.get("LastEvaluatedKey")
            if not start:
                break
        found.sort(key=lambda entry: entry[:2])
        return [message for _, _, message in found]

    async def stored_agent_items(self, customer_key: str, keys: Collection[str]) -> dict[str, int]:
        """Which of these agent items the outbound router has written, with when (ms).

        Strongly consistent: the order gate (flows/order_gate.py) asks whether an item the
        transcript shows is still on its way to the table.
        """
        found: dict[str, int] = {}
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), _BATCH_GET_MAX):
            chunk = wanted[start : start + _BATCH_GET_MAX]
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [
                        dynamo.encode({"customer": customer_key, "message_id": AGENT_PREFIX + k})
                        for k in chunk
                    ],
                    "ConsistentRead": True,
                    "ProjectionExpression": "message_id, received_at_ms",
                }
            }
            attempts = Attempts(_UNPROCESSED_BACKOFF, self._rng)
            for _ in range(_UNPROCESSED_ATTEMPTS):
                with translated("dynamodb", "BatchGetItem"):
                    response = await self._dynamodb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    values = dynamo.decode(item)
                    key = str(values["message_id"]).removeprefix(AGENT_PREFIX)
                    found[key] = int(values.get("received_at_ms", 0))
                request = dict(response.get("UnprocessedKeys") or {})
                if not request:
                    break
                await self._clock.sleep(attempts.next_delay())
            else:
                raise ThrottledError("BatchGetItem kept keys unprocessed")
        return found
