"""Connect contact streaming: every transcript item, as the SNS message Connect publishes.

Body: the Participant `Item` plus `InitialContactId` and `ContactId`. Message attributes:
`InitialContactId`, `ContactId`, `ParticipantRole` (absent on chat.ended, which has no
participant), `InstanceId`, `AccountId`, `Type`, `ContentType`, `MessageVisibility`.

Visibility (undocumented for most events; chosen so the customer-facing subscription
filter `MessageVisibility in {CUSTOMER, ALL}` behaves like Connect's): messages,
attachments, joins, leaves, transfers and chat.ended are ALL; typing and receipts go to the
other side only (an agent's are CUSTOMER, a customer's are AGENT).

Publishing is serialised per chat, so a topic receives one chat's items in transcript
order while chats publish concurrently (downstream, a standard topic still gives no
ordering guarantee, as in production).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from service.local.sim.chat import AGENT, CUSTOMER, Chat, Item

if TYPE_CHECKING:
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_sns.type_defs import MessageAttributeValueTypeDef

_log = structlog.get_logger(__name__)


def visibility_for(role: str, content_type: str) -> str:
    """MessageVisibility of an event sent by `role` (see the module docstring)."""
    private = content_type.endswith(("event.typing", "message.delivered", "message.read"))
    if not private:
        return "ALL"
    return "CUSTOMER" if role == AGENT else "AGENT" if role == CUSTOMER else "ALL"


def stream_body(chat: Chat, item: Item) -> dict[str, Any]:
    body = item.wire()
    body["InitialContactId"] = chat.initial_contact_id
    body["ContactId"] = item.contact_id
    return body


def stream_attributes(chat: Chat, item: Item, account_id: str) -> dict[str, str]:
    attributes = {
        "InitialContactId": chat.initial_contact_id,
        "ContactId": item.contact_id,
        "InstanceId": chat.instance_id,
        "AccountId": account_id,
        "Type": item.kind,
        "MessageVisibility": item.visibility,
    }
    if item.participant is not None:
        attributes["ParticipantRole"] = item.participant.role
    if item.content_type:
        attributes["ContentType"] = item.content_type
    return attributes


class StreamPublisher:
    def __init__(self, *, sns: SNSClient, account_id: str) -> None:
        self._sns = sns
        self._account_id = account_id
        # Per chat: asyncio locks are FIFO, and items are appended and queued for the lock
        # without an await in between, so publication order is append order.
        self._locks: dict[str, asyncio.Lock] = {}
        self._late: set[asyncio.Task[None]] = set()
        self.published = 0
        self.failed = 0

    async def publish(self, chat: Chat, items: Sequence[Item]) -> None:
        """Publish `items` to the topics each was appended under; failures are only logged.

        A streaming endpoint that cannot be reached must not fail the API call that produced
        the item (Connect does not fail SendMessage when SNS rejects its publish either).
        """
        lock = self._locks.setdefault(chat.initial_contact_id, asyncio.Lock())
        async with lock:
            for item in items:
                for topic in item.topics:
                    await self._publish_one(topic, chat, item)

    def publish_later(self, chat: Chat, items: Sequence[Item], delay_s: float) -> None:
        """Publish `items` after `delay_s`, overtaken by whatever the chat publishes meanwhile.

        A standard SNS topic gives no order: in production one item's path can run seconds
        behind the next one's (a busy subscriber, a retried delivery). The sandbox API
        asks for it explicitly so a test can show what the bridge does then.
        """

        async def later() -> None:
            await asyncio.sleep(delay_s)
            for item in items:
                for topic in item.topics:
                    await self._publish_one(topic, chat, item)

        task = asyncio.get_running_loop().create_task(later(), name="sim-late-publish")
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    def forget(self) -> None:
        """Drop per-chat state (on sandbox reset)."""
        self._locks = {key: lock for key, lock in self._locks.items() if lock.locked()}

    async def _publish_one(self, topic: str, chat: Chat, item: Item) -> None:
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            name: {"DataType": "String", "StringValue": value}
            for name, value in stream_attributes(chat, item, self._account_id).items()
        }
        try:
            await self._sns.publish(
                TopicArn=topic,
                Message=json.dumps(stream_body(chat, item), ensure_ascii=False),
                MessageAttributes=attributes,
            )
        except (ClientError, BotoCoreError) as exc:
            self.failed += 1
            _log.warning(
                "sim_stream_publish_failed",
                item_type=item.kind,
                content_type=item.content_type,
                error=type(exc).__name__,
            )
        else:
            self.published += 1
