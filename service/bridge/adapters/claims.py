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

A task killed between WhatsApp's answer and the COMPLETE write leaves an INPROGRESS claim
for a message that did go out; once it expires, the next owner would send it again. So
every claimed send carries its claim key in `biz_opaque_callback_data`, which WhatsApp
echoes in each status of that message: a status for a message the bridge never recorded
`settle`s its claim (INPROGRESS → COMPLETE), and the next owner skips it. WhatsApp reports
`sent` within a second or two; the claim stays INPROGRESS for a minute.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from service import dynamo
from service.aws_errors import translated
from service.bridge.adapters.batch_writes import put_batch
from service.clock import SYSTEM_CLOCK, Clock
from service.errors import ConditionFailedError, ThrottledError
from service.resources import TTL_ATTRIBUTE

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

PREFIX: Final = "out#"
_WAMID_PREFIX: Final = PREFIX + "wamid#"
# Marks the callback data of the bridge's claimed sends (Meta allows 512 characters).
_CALLBACK_PREFIX: Final = "bridge-claim:"
CALLBACK_MAX: Final = 512
_INPROGRESS: Final = "INPROGRESS"
_COMPLETE: Final = "COMPLETE"
_SERVICE: Final = "dynamodb"


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


def callback_data(key: str) -> str | None:
    """What a claimed send carries in `biz_opaque_callback_data` (None: a key too long)."""
    data = _CALLBACK_PREFIX + key
    return data if len(data) <= CALLBACK_MAX else None


def claim_key_of(callback_data: str | None) -> str | None:
    """The claim key a status's callback data names, if it is one of the bridge's."""
    if callback_data is None or not callback_data.startswith(_CALLBACK_PREFIX):
        return None
    return callback_data.removeprefix(_CALLBACK_PREFIX) or None


class SendClaims:
    def __init__(
        self,
        *,
        dynamodb: DynamoDBClient,
        table: str,
        in_progress_s: float = 60.0,
        retention_s: int = 3 * 24 * 3600,
        max_attempts: int = 4,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._in_progress_s = in_progress_s
        self._retention_s = retention_s
        self._max_attempts = max_attempts
        self._clock = clock
        self._rng = rng or random.Random()

    async def claim(self, key: str) -> Claim:
        now = self._clock.time()
        try:
            with translated(_SERVICE, "PutItem"):
                await self._dynamodb.put_item(
                    TableName=self._table,
                    Item=dynamo.encode(
                        {
                            "id": PREFIX + key,
                            "status": _INPROGRESS,
                            "in_progress_expiry": int((now + self._in_progress_s) * 1000),
                            TTL_ATTRIBUTE: int(now) + self._retention_s,
                        }
                    ),
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
        except ConditionFailedError:
            return await self._existing(key)
        return Claim(ClaimState.CLAIMED)

    async def _existing(self, key: str) -> Claim:
        with translated(_SERVICE, "GetItem"):
            response = await self._dynamodb.get_item(
                TableName=self._table, Key=dynamo.encode({"id": PREFIX + key}), ConsistentRead=True
            )
        item = dynamo.decode(response.get("Item") or {})
        if not item:
            # Released between our put and this read: let the caller try again soon.
            return Claim(ClaimState.IN_PROGRESS)
        if item["status"] == _COMPLETE:
            return Claim(ClaimState.SENT, item.get("wamid"))
        return Claim(ClaimState.IN_PROGRESS)

    async def complete(
        self, key: str, *, whatsapp_message_id: str | None, sent: SentMessage | None = None
    ) -> None:
        """Mark the claim's effect done; `None` when it ended without a WhatsApp message.
        With `sent`, also remember that message (`remember`), in the same request: the two
        puts were two calls an agent message."""
        item = dynamo.encode(
            {
                "id": PREFIX + key,
                "status": _COMPLETE,
                "wamid": whatsapp_message_id,
                TTL_ATTRIBUTE: int(self._clock.time()) + self._retention_s,
            }
        )
        if sent is None:
            with translated(_SERVICE, "PutItem"):
                await self._dynamodb.put_item(TableName=self._table, Item=item)
            return
        # Both unconditional, so a batch does what the two puts did (a transaction would
        # cost twice the write units): order between them never mattered, a crash between
        # them was already possible, and a retried completion rewrites the same two items.
        with translated(_SERVICE, "BatchWriteItem"):
            left = await put_batch(
                self._dynamodb,
                table=self._table,
                items=[item, self._sent_item(sent)],
                max_attempts=self._max_attempts,
                clock=self._clock,
                rng=self._rng,
            )
        if left:
            raise ThrottledError(f"claim completion unprocessed after {self._max_attempts} tries")

    async def settle(self, key: str, *, whatsapp_message_id: str) -> bool:
        """Complete a claim still INPROGRESS whose message WhatsApp reports it has (its
        sender died before completing it); False if it was not INPROGRESS."""
        item = dynamo.encode(
            {
                "id": PREFIX + key,
                "status": _COMPLETE,
                "wamid": whatsapp_message_id,
                TTL_ATTRIBUTE: int(self._clock.time()) + self._retention_s,
            }
        )
        try:
            with translated(_SERVICE, "PutItem"):
                await self._dynamodb.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="#status = :inprogress",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues=dynamo.encode({":inprogress": _INPROGRESS}),
                )
        except ConditionFailedError:
            return False
        return True

    async def release(self, key: str) -> None:
        """Give up a claim whose send certainly did not happen, so a retry may send."""
        try:
            with translated(_SERVICE, "DeleteItem"):
                await self._dynamodb.delete_item(
                    TableName=self._table,
                    Key=dynamo.encode({"id": PREFIX + key}),
                    ConditionExpression="#status = :inprogress",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues=dynamo.encode({":inprogress": _INPROGRESS}),
                )
        except ConditionFailedError:
            pass  # already complete (or gone): nothing of ours to give up

    async def remember(self, sent: SentMessage) -> None:
        with translated(_SERVICE, "PutItem"):
            await self._dynamodb.put_item(TableName=self._table, Item=self._sent_item(sent))

    def _sent_item(self, sent: SentMessage) -> dict[str, Any]:
        return dynamo.encode(
            {
                "id": _WAMID_PREFIX + sent.whatsapp_message_id,
                "initial_contact_id": sent.initial_contact_id,
                "connect_item_id": sent.connect_item_id,
                "customer_key": sent.customer_key,
                "message": json.dumps(sent.message, ensure_ascii=False),
                TTL_ATTRIBUTE: int(self._clock.time()) + self._retention_s,
            }
        )

    async def sent(self, whatsapp_message_id: str) -> SentMessage | None:
        with translated(_SERVICE, "GetItem"):
            response = await self._dynamodb.get_item(
                TableName=self._table,
                Key=dynamo.encode({"id": _WAMID_PREFIX + whatsapp_message_id}),
                ConsistentRead=True,
            )
        item = dynamo.decode(response.get("Item") or {})
        if not item:
            return None
        return SentMessage(
            whatsapp_message_id=whatsapp_message_id,
            initial_contact_id=item["initial_contact_id"],
            connect_item_id=item["connect_item_id"],
            customer_key=item["customer_key"],
            message=json.loads(item["message"]),
        )
