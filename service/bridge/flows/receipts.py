"""What the customer sees of the bridge's progress: read ticks and reactions.

The old sample's behaviour, each part configurable: mark the customer's messages read,
react 👀 when a message is received, ✅ when it reached the agent, ❌ when it could not be
delivered. Marking one message read marks every earlier one too, so one call per burst
is enough. All of it is best effort: a failed reaction is logged and counted, and never
holds up delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import structlog
from prometheus_client import CollectorRegistry, Counter

from service.bridge.adapters.whatsapp import Recipient
from service.bridge.events.whatsapp import InboundMessage, MessageType
from service.bridge.flows.ports import WhatsAppSender
from service.errors import BridgeError

log = structlog.get_logger(__name__)

MarkRead = Literal["on_receipt", "on_delivery", "on_agent_read", "never"]

# A reaction or read receipt on these would be refused, or mean nothing to the customer.
# Edits and deletions are not messages of their own on the customer's phone (and a
# deleted message is gone): ticks and reactions go to the messages around them.
NOT_REACTABLE = frozenset(
    {
        MessageType.REACTION,
        MessageType.SYSTEM,
        MessageType.REQUEST_WELCOME,
        MessageType.UNSUPPORTED,
        MessageType.EDIT,
        MessageType.REVOKE,
    }
)


@dataclass(frozen=True, slots=True)
class ReceiptPolicy:
    mark_read: MarkRead = "on_delivery"
    reaction_received: str = ""
    reaction_delivered: str = "✅"
    reaction_failed: str = "❌"


class CustomerReceipts:
    def __init__(
        self, *, whatsapp: WhatsAppSender, policy: ReceiptPolicy, registry: CollectorRegistry
    ) -> None:
        self._whatsapp = whatsapp
        self._policy = policy
        self._sent = Counter(
            "bridge_whatsapp_receipts",
            "Read receipts and reactions sent to customers, by kind and result",
            ["kind", "result"],
            registry=registry,
        )

    @property
    def policy(self) -> ReceiptPolicy:
        return self._policy

    async def received(self, messages: Sequence[InboundMessage]) -> None:
        if self._policy.reaction_received:
            for message in messages:
                await self._react(message, self._policy.reaction_received, "received")
        if self._policy.mark_read == "on_receipt":
            await self._mark_read(messages)

    async def delivered(self, messages: Sequence[InboundMessage]) -> None:
        if self._policy.reaction_delivered:
            last = _last_reactable(messages)
            if last is not None:
                await self._react(last, self._policy.reaction_delivered, "delivered")
        if self._policy.mark_read == "on_delivery":
            await self._mark_read(messages)

    async def failed(self, messages: Sequence[InboundMessage]) -> None:
        if self._policy.reaction_failed:
            for message in messages:
                await self._react(message, self._policy.reaction_failed, "failed")

    async def _mark_read(self, messages: Sequence[InboundMessage]) -> None:
        last = _last_reactable(messages)
        if last is None:
            return
        try:
            await self._whatsapp.mark_read(
                origination_id=last.business.origination_id, message_id=last.message_id
            )
        except BridgeError as exc:
            self._sent.labels("read", "failed").inc()
            log.warning("whatsapp_mark_read_failed", error=type(exc).__name__)
        else:
            self._sent.labels("read", "sent").inc()

    async def _react(self, message: InboundMessage, emoji: str, kind: str) -> None:
        if message.type in NOT_REACTABLE:
            return
        try:
            await self._whatsapp.react(
                origination_id=message.business.origination_id,
                recipient=Recipient(wa_id=message.customer.wa_id, bsuid=message.customer.bsuid),
                message_id=message.message_id,
                emoji=emoji,
            )
        except BridgeError as exc:
            self._sent.labels(kind, "failed").inc()
            log.warning("whatsapp_reaction_failed", kind=kind, error=type(exc).__name__)
        else:
            self._sent.labels(kind, "sent").inc()


def _last_reactable(messages: Sequence[InboundMessage]) -> InboundMessage | None:
    for message in reversed(messages):
        if message.type not in NOT_REACTABLE:
            return message
    return None
