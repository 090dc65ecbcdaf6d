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

import asyncio
import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import structlog

from service.bridge.eum_events import InboundMessage, from_compact, to_compact
from service.resources import RAW_MESSAGE_TTL_S, TTL_ATTRIBUTE

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

log = structlog.get_logger(__name__)

_BATCH_LIMIT = 25


class RawWriteError(Exception):
    """Some items could not be written; `failed` holds their (customer, message id) keys."""

    def __init__(self, failed: set[tuple[str, str]]) -> None:
        super().__init__(f"{len(failed)} raw message(s) not written")
        self.failed = failed


def raw_item(message: InboundMessage, *, received_at_ms: int) -> dict[str, Any]:
    """The item in DynamoDB's low-level attribute form."""
    return {
        "customer": {"S": message.customer_key},
        "message_id": {"S": message.message_id},
        "message": {"S": json.dumps(to_compact(message), separators=(",", ":"))},
        "wa_timestamp": {"N": str(message.timestamp)},
        "received_at_ms": {"N": str(received_at_ms)},
        TTL_ATTRIBUTE: {"N": str(received_at_ms // 1000 + RAW_MESSAGE_TTL_S)},
    }


def decode_image(image: Mapping[str, Any]) -> InboundMessage:
    """A stream record's NewImage back into the typed message; ValueError if unusable."""
    try:
        return from_compact(json.loads(image["message"]["S"]))
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"raw item without a usable message: {type(exc).__name__}") from exc


class RawMessageWriter:
    def __init__(
        self,
        *,
        dynamodb: DynamoDBClient,
        table: str,
        max_attempts: int = 6,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._max_attempts = max_attempts
        self._clock = clock

    async def write(self, messages: Sequence[InboundMessage]) -> None:
        """Write every message durably, or raise `RawWriteError` naming those that failed."""
        now_ms = int(self._clock() * 1000)
        # One request per key: BatchWriteItem refuses duplicates within a call.
        unique = {(m.customer_key, m.message_id): m for m in messages}
        items = [raw_item(m, received_at_ms=now_ms) for m in unique.values()]
        failed: set[tuple[str, str]] = set()
        for start in range(0, len(items), _BATCH_LIMIT):
            left = await self._write_chunk(items[start : start + _BATCH_LIMIT])
            failed |= {(item["customer"]["S"], item["message_id"]["S"]) for item in left}
        if failed:
            raise RawWriteError(failed)

    async def _write_chunk(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        pending = items
        for attempt in range(self._max_attempts):
            response = await self._dynamodb.batch_write_item(
                RequestItems={self._table: [{"PutRequest": {"Item": item}} for item in pending]}
            )
            unprocessed: list[Any] = list(response.get("UnprocessedItems", {}).get(self._table, []))
            pending = [request["PutRequest"]["Item"] for request in unprocessed]
            if not pending:
                return []
            # Unprocessed items mean throttling: back off before resubmitting them.
            await asyncio.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
        log.warning("raw_write_unprocessed", items=len(pending))
        return pending


class RawMessageReader:
    """The customer's stored messages, for what the outbound side must point at.

    Read receipts and typing indicators name one of the customer's WhatsApp messages; the
    partition holds them all (for the table's TTL), so one strongly consistent query finds
    the latest. A customer writes few enough messages in a week for this to stay small.
    """

    def __init__(self, *, dynamodb: DynamoDBClient, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    async def messages(self, customer_key: str) -> list[InboundMessage]:
        """Oldest first (WhatsApp time, then arrival)."""
        found: list[tuple[int, int, InboundMessage]] = []
        start: dict[str, Any] | None = None
        while True:
            request: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "customer = :customer",
                "ExpressionAttributeValues": {":customer": {"S": customer_key}},
                "ProjectionExpression": "message, wa_timestamp, received_at_ms",
                "ConsistentRead": True,
            }
            if start is not None:
                request["ExclusiveStartKey"] = start
            response = await self._dynamodb.query(**request)
            for item in response.get("Items", []):
                try:
                    message = decode_image(item)
                except ValueError:
                    continue
                found.append(
                    (int(item["wa_timestamp"]["N"]), int(item["received_at_ms"]["N"]), message)
                )
            start = response.get("LastEvaluatedKey")
            if not start:
                break
        found.sort(key=lambda entry: entry[:2])
        return [message for _, _, message in found]
