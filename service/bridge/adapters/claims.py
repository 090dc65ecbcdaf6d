"""Claims that make WhatsApp sends exactly-once, and the WhatsApp id → Connect item map.

`SendWhatsAppMessage` takes no idempotency token, and SNS/SQS deliver a Connect item more
than once; so each send is guarded by a Powertools-style claim in the idempotency table
(hash key `id`, TTL `expires_at`), under the `out#` prefix:

- before the send, a conditional put makes the claim INPROGRESS with a short expiry; it
  succeeds only if there is no claim, or an INPROGRESS one whose worker died (expired);
- after the send, the claim becomes COMPLETE with the WhatsApp message id;
- a send that certainly did not happen (WhatsApp refused it) releases the claim.

Each sent message also gets its own item, `out#wamid#<wamid>`: what WhatsApp statuses
for it must be reported against (the Connect item, the chat) and the message itself, so a
send WhatsApp later rejects for rate reasons can be repeated.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from service.errors import (
    ConfigurationError,
    DependencyUnavailableError,
    ThrottledError,
)
from service.resources import TTL_ATTRIBUTE

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef

PREFIX: Final = "out#"
_WAMID_PREFIX: Final = PREFIX + "wamid#"
_INPROGRESS: Final = "INPROGRESS"
_COMPLETE: Final = "COMPLETE"
_THROTTLING: Final = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)


class ClaimState(StrEnum):
    CLAIMED = "claimed"  # ours: send, then complete (or release)
    SENT = "sent"  # someone already sent it: skip
    IN_PROGRESS = "in_progress"  # someone is sending it now: try again later


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    whatsapp_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What the bridge remembers of one WhatsApp message it sent."""

    whatsapp_message_id: str
    initial_contact_id: str
    connect_item_id: str
    customer_key: str
    message: Mapping[str, Any]


class SendClaims:
    def __init__(
        self,
        *,
        dynamodb: DynamoDBClient,
        table: str,
        in_progress_s: float = 60.0,
        retention_s: int = 3 * 24 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._in_progress_s = in_progress_s
        self._retention_s = retention_s
        self._clock = clock

    async def claim(self, key: str) -> Claim:
        now = self._clock()
        try:
            with _translated("PutItem"):
                await self._dynamodb.put_item(
                    TableName=self._table,
                    Item={
                        "id": {"S": PREFIX + key},
                        "status": {"S": _INPROGRESS},
                        "in_progress_expiry": {"N": str(int((now + self._in_progress_s) * 1000))},
                        TTL_ATTRIBUTE: {"N": str(int(now) + self._retention_s)},
                    },
                    ConditionExpression=(
                        "attribute_not_exists(id)"
                        " OR (#status = :inprogress AND in_progress_expiry < :now)"
                    ),
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        ":inprogress": {"S": _INPROGRESS},
                        ":now": {"N": str(int(now * 1000))},
                    },
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return await self._existing(key)
        return Claim(ClaimState.CLAIMED)

    async def _existing(self, key: str) -> Claim:
        with _translated("GetItem"):
            response = await self._dynamodb.get_item(
                TableName=self._table, Key={"id": {"S": PREFIX + key}}, ConsistentRead=True
            )
        item = response.get("Item")
        if item is None:
            # Released between our put and this read: let the caller try again soon.
            return Claim(ClaimState.IN_PROGRESS)
        if _s(item, "status") == _COMPLETE:
            return Claim(ClaimState.SENT, _opt_s(item, "wamid"))
        return Claim(ClaimState.IN_PROGRESS)

    async def complete(self, key: str, *, whatsapp_message_id: str | None) -> None:
        """Mark the claim's effect done; `None` when it ended without a WhatsApp message."""
        item: dict[str, Any] = {
            "id": {"S": PREFIX + key},
            "status": {"S": _COMPLETE},
            TTL_ATTRIBUTE: {"N": str(int(self._clock()) + self._retention_s)},
        }
        if whatsapp_message_id is not None:
            item["wamid"] = {"S": whatsapp_message_id}
        with _translated("PutItem"):
            await self._dynamodb.put_item(TableName=self._table, Item=item)

    async def release(self, key: str) -> None:
        """Give up a claim whose send certainly did not happen, so a retry may send."""
        try:
            with _translated("DeleteItem"):
                await self._dynamodb.delete_item(
                    TableName=self._table,
                    Key={"id": {"S": PREFIX + key}},
                    ConditionExpression="#status = :inprogress",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={":inprogress": {"S": _INPROGRESS}},
                )
        except ClientError as exc:
            # Already complete (or gone): nothing of ours to give up.
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    async def remember(self, sent: SentMessage) -> None:
        with _translated("PutItem"):
            await self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": _WAMID_PREFIX + sent.whatsapp_message_id},
                    "initial_contact_id": {"S": sent.initial_contact_id},
                    "connect_item_id": {"S": sent.connect_item_id},
                    "customer_key": {"S": sent.customer_key},
                    "message": {"S": json.dumps(sent.message, ensure_ascii=False)},
                    TTL_ATTRIBUTE: {"N": str(int(self._clock()) + self._retention_s)},
                },
            )

    async def sent(self, whatsapp_message_id: str) -> SentMessage | None:
        with _translated("GetItem"):
            response = await self._dynamodb.get_item(
                TableName=self._table,
                Key={"id": {"S": _WAMID_PREFIX + whatsapp_message_id}},
                ConsistentRead=True,
            )
        item = response.get("Item")
        if item is None:
            return None
        return SentMessage(
            whatsapp_message_id=whatsapp_message_id,
            initial_contact_id=_s(item, "initial_contact_id"),
            connect_item_id=_s(item, "connect_item_id"),
            customer_key=_s(item, "customer_key"),
            message=json.loads(_s(item, "message")),
        )


def _s(item: Mapping[str, AttributeValueTypeDef], name: str) -> str:
    return item[name]["S"]


def _opt_s(item: Mapping[str, AttributeValueTypeDef], name: str) -> str | None:
    value = item.get(name)
    return None if value is None else value["S"]


@contextlib.contextmanager
def _translated(operation: str) -> Iterator[None]:
    """Throttling and outages become retryable errors; a condition failure passes through."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _THROTTLING:
            raise ThrottledError(f"{operation}: {code}") from exc
        if code == "ResourceNotFoundException":
            raise ConfigurationError(f"{operation}: idempotency table not found") from exc
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if status >= 500:  # noqa: PLR2004  HTTP server error class
            raise DependencyUnavailableError(f"{operation}: {code}") from exc
        raise
    except (HTTPClientError, BotocoreConnectionError) as exc:
        raise DependencyUnavailableError(f"{operation}: {type(exc).__name__}") from exc
