"""BatchWriteItem of puts to one table, resubmitting what DynamoDB left unprocessed.

A batch is one request however many items it carries (up to 25), at the same write units
as the separate puts; the price is UnprocessedItems under throttling, resubmitted here with
the one backoff until they are written or the attempts run out.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from service.backoff import Backoff
from service.clock import Clock

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

BATCH_LIMIT: Final = 25  # BatchWriteItem's limit of requests per call
_BACKOFF: Final = Backoff(base_s=0.05, max_s=2.0)


async def put_batch(
    dynamodb: DynamoDBClient,
    *,
    table: str,
    items: Sequence[dict[str, Any]],
    max_attempts: int,
    clock: Clock,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """Put `items` (at most 25, low-level form); the ones still unprocessed after
    `max_attempts` requests. Errors of the call itself are the caller's to translate."""
    pending = list(items)
    for attempt in range(1, max_attempts + 1):
        response = await dynamodb.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": item}} for item in pending]}
        )
        unprocessed: list[Any] = list(response.get("UnprocessedItems", {}).get(table, []))
        pending = [request["PutRequest"]["Item"] for request in unprocessed]
        if not pending:
            return []
        if attempt < max_attempts:
            # Unprocessed items mean throttling: back off before resubmitting them.
            await clock.sleep(_BACKOFF.delay(attempt, rng))
    return pending
