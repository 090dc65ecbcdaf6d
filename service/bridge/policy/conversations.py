"""Each customer's whole conversation, owned by the worker that owns their shard.

The stream of the raw-messages table carries both directions for a customer (DESIGN §2):
the customer's WhatsApp messages and the agent's Connect items, both under the customer's
key. This is the stream consumer's record handler: it decodes each record and hands a
customer's message to the burst buffer (`buffer`), an agent's item to the customer's lane
(`lanes`), and passes the shard's life (handoff, loss, shutdown) on to both. A record it
cannot decode is parked with its reason at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from service.bridge.events.connect import AgentItem
from service.bridge.events.transport import Acknowledgement, StreamItem
from service.bridge.events.whatsapp import InboundMessage
from service.bridge.policy.buffer import CustomerBuffer
from service.bridge.policy.lanes import AgentLanes

log = structlog.get_logger(__name__)


class Conversations:
    def __init__(
        self,
        *,
        decode: Callable[[StreamItem], InboundMessage | AgentItem],
        buffer: CustomerBuffer[InboundMessage],
        lanes: AgentLanes[AgentItem],
    ) -> None:
        self._decode = decode
        self._buffer = buffer
        self._lanes = lanes

    async def submit(self, record: StreamItem, ack: Acknowledgement) -> None:
        try:
            decoded = self._decode(record)
        except Exception as exc:  # noqa: BLE001  whatever the item holds, it is this record's
            log.warning("record_undecodable", shard_id=record.shard_id, error=type(exc).__name__)
            await ack.park(f"undecodable: {type(exc).__name__}")
            return
        if isinstance(decoded, AgentItem):
            await self._lanes.add(record, ack, decoded)
        else:
            await self._buffer.add(record, ack, decoded)

    async def flush_shard(self, shard_key: str) -> None:
        await self._buffer.flush_shard(shard_key)
        await self._lanes.flush_shard(shard_key)

    async def drop_shard(self, shard_key: str) -> None:
        await self._buffer.drop_shard(shard_key)
        await self._lanes.drop_shard(shard_key)

    async def flush_all(self) -> None:
        # Both at once: the caller bounds this by the drain deadline, and a cancellation
        # must end both flushes (a `finally` awaiting the second would outlive it).
        await asyncio.gather(self._buffer.flush_all(), self._lanes.flush_all())
