"""The delivery ledger: which customer messages have reached Connect, durably.

A ClientToken alone cannot make inbound delivery exactly-once: after a crash the replayed
messages may be grouped differently (half a burst delivered, then replayed together with
later messages), and a different group means a different token. So before anything is
sent, the bridge records a *delivery*: the exact message ids, the exact rendered parts and
a token derived from the ids, plus one *claim* per message id pointing at it — all in one
DynamoDB transaction. Parts are then sent with tokens derived from the delivery token and
the part's position, and progress is recorded after each part.

A burst is first recorded as a new delivery (`open`): its conditions refuse it when any
message id is claimed already, which is how a replay is recognised; then each message id
is looked up (`recorded`):
- claimed by a COMPLETE delivery: already with the agent, skipped;
- claimed by an unfinished delivery: that delivery is resumed exactly as recorded (same
  parts, same tokens, so Connect absorbs whatever the crashed worker already sent);
- unclaimed: grouped into a new delivery.

Items live in the idempotency table (`id` hash key) under an `in#` prefix, and expire
(TTL) well after the stream's 24 h retention, so no replay can outlive its record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import structlog

from service import dynamo
from service.aws_errors import translated
from service.clock import SYSTEM_CLOCK, Clock
from service.resources import TTL_ATTRIBUTE

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

log = structlog.get_logger(__name__)

RETENTION_S = 7 * 24 * 3600
# A transaction holds at most 100 items: the delivery record plus one claim per message.
MAX_MESSAGES_PER_DELIVERY = 99
_BATCH_GET_LIMIT = 100


_SERVICE = "dynamodb"


@dataclass(frozen=True, slots=True)
class AttachmentPart:
    """A customer's file, recorded as the part it is: what to fetch and how it was sent.

    Recorded rather than re-derived on a replay, so a resumed delivery uploads the same
    file at the same position with the same tokens.
    """

    message_id: str
    media_id: str
    kind: str  # the WhatsApp message type: image, video, audio, document, sticker
    mime_type: str | None = None
    filename: str | None = None
    voice: bool = False
    animated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"attachment": asdict(self)}


Part = str | AttachmentPart


def _part_from_json(value: Any) -> Part:
    if isinstance(value, str):
        return value
    return AttachmentPart(**value["attachment"])


@dataclass(frozen=True, slots=True)
class Delivery:
    token: str
    customer_key: str
    message_ids: tuple[str, ...]
    parts: tuple[Part, ...]
    progress: int = 0
    complete: bool = False
    contact_id: str | None = None

    def part_token(self, index: int) -> str:
        return f"{self.token}-p{index}"

    def start_token(self, index: int) -> str:
        """Token for starting a chat whose InitialMessage is part `index`."""
        return f"{self.token}-s{index}"


def delivery_token(customer_key: str, message_ids: Sequence[str]) -> str:
    digest = hashlib.sha256("\n".join([customer_key, *message_ids]).encode()).hexdigest()
    return f"in-{digest[:40]}"


def _claim_id(customer_key: str, message_id: str) -> str:
    return f"in#msg#{customer_key}#{message_id}"


def _delivery_id(token: str) -> str:
    return f"in#delivery#{token}"


class DeliveryLedger:
    def __init__(
        self,
        *,
        dynamodb: DynamoDBClient,
        table: str,
        retention_s: int = RETENTION_S,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._retention_s = retention_s
        self._clock = clock

    async def recorded(self, customer_key: str, message_ids: Sequence[str]) -> dict[str, Delivery]:
        """The delivery each already-claimed message id belongs to (strongly consistent)."""
        claims = await self._get_many([_claim_id(customer_key, m) for m in message_ids])
        by_token: dict[str, list[str]] = {}
        for item in claims:
            by_token.setdefault(item["delivery"], []).append(item["message_id"])
        deliveries = {
            item["token"]: _from_item(item)
            for item in await self._get_many([_delivery_id(t) for t in by_token])
        }
        result: dict[str, Delivery] = {}
        for token, ids in by_token.items():
            delivery = deliveries.get(token)
            if delivery is None:
                # A claim without its delivery cannot come from our transactions.
                log.error("ledger_orphan_claim", customer=customer_key, token=token)
                continue
            for message_id in ids:
                result[message_id] = delivery
        return result

    async def open(
        self, customer_key: str, message_ids: Sequence[str], parts: Sequence[Part]
    ) -> Delivery:
        if not message_ids or len(message_ids) > MAX_MESSAGES_PER_DELIVERY:
            raise ValueError(f"a delivery holds 1..{MAX_MESSAGES_PER_DELIVERY} messages")
        delivery = Delivery(
            token=delivery_token(customer_key, message_ids),
            customer_key=customer_key,
            message_ids=tuple(message_ids),
            parts=tuple(parts),
        )
        now = int(self._clock.time())
        expires = now + self._retention_s
        record: dict[str, Any] = {
            "id": _delivery_id(delivery.token),
            "token": delivery.token,
            "customer": customer_key,
            "message_ids": list(message_ids),
            "parts": json.dumps([p if isinstance(p, str) else p.to_json() for p in parts]),
            "progress": 0,
            "status": "INPROGRESS",
            "created_at": now,
            TTL_ATTRIBUTE: expires,
        }
        claims: list[dict[str, Any]] = [
            {"id": _claim_id(customer_key, m), "message_id": m, "delivery": delivery.token}
            for m in message_ids
        ]
        items: list[Any] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": dynamo.encode(item | {TTL_ATTRIBUTE: expires}),
                    "ConditionExpression": "attribute_not_exists(id)",
                }
            }
            for item in (record, *claims)
        ]
        # A condition failure means some message ids were claimed at the same moment
        # (ConditionFailedError: re-read and decide again); throttling is retried as such.
        with translated(_SERVICE, "TransactWriteItems"):
            await self._dynamodb.transact_write_items(TransactItems=items)
        return delivery

    async def advance(
        self, delivery: Delivery, progress: int, *, contact_id: str | None, complete: bool = False
    ) -> Delivery:
        """Record that parts before `progress` are with Connect (in `contact_id`); with
        `complete`, that the delivery is complete too, in the same write (the last part's
        progress and the completion were two writes with nothing between them)."""
        names = {"#p": "progress"}
        values: dict[str, Any] = {":p": progress}
        update = "SET #p = :p"
        if contact_id is not None:
            update += ", contact_id = :c"
            values[":c"] = contact_id
        if complete:
            if progress != len(delivery.parts):
                raise ValueError("only a delivery whose every part went can be complete")
            update += ", #s = :done"
            names["#s"] = "status"
            values[":done"] = "COMPLETE"
        with translated(_SERVICE, "UpdateItem"):
            await self._dynamodb.update_item(
                TableName=self._table,
                Key=dynamo.encode({"id": _delivery_id(delivery.token)}),
                UpdateExpression=update,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=dynamo.encode(values),
            )
        return replace(
            delivery,
            progress=progress,
            contact_id=contact_id or delivery.contact_id,
            complete=delivery.complete or complete,
        )

    async def complete(self, delivery: Delivery) -> Delivery:
        with translated(_SERVICE, "UpdateItem"):
            await self._dynamodb.update_item(
                TableName=self._table,
                Key=dynamo.encode({"id": _delivery_id(delivery.token)}),
                UpdateExpression="SET #s = :done, #p = :n",
                ExpressionAttributeNames={"#s": "status", "#p": "progress"},
                ExpressionAttributeValues=dynamo.encode(
                    {":done": "COMPLETE", ":n": len(delivery.parts)}
                ),
            )
        return replace(delivery, complete=True, progress=len(delivery.parts))

    async def _get_many(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _BATCH_GET_LIMIT):
            keys = [dynamo.encode({"id": i}) for i in unique[start : start + _BATCH_GET_LIMIT]]
            request: Any = {self._table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                with translated(_SERVICE, "BatchGetItem"):
                    response = await self._dynamodb.batch_get_item(RequestItems=request)
                found.extend(map(dynamo.decode, response.get("Responses", {}).get(self._table, [])))
                request = response.get("UnprocessedKeys") or None
        return found


def _from_item(item: dict[str, Any]) -> Delivery:
    return Delivery(
        token=item["token"],
        customer_key=item["customer"],
        message_ids=tuple(item["message_ids"]),
        parts=tuple(map(_part_from_json, json.loads(item["parts"]))),
        progress=item["progress"],
        complete=item["status"] == "COMPLETE",
        contact_id=item.get("contact_id"),
    )
