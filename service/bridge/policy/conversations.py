"""Each customer's whole conversation, owned by the worker that owns their shard.

The stream of the raw-messages table carries both directions for a customer (DESIGN §2):
the customer's WhatsApp messages and the agent's Connect items, both under the customer's
key. This is the stream consumer's record handler: it decodes each record and hands a
customer's message to the burst buffer (`buffer`), an agent's item to the customer's lane
(`lanes`), and passes the shard's life (handoff, loss, shutdown) on to both. A record it
cannot decode is parked with its reason at once.

It also times how long each one took to get here (`bridge_intake_lag_seconds`): a customer's
message from EUM's publication (SNS, SQS, the queue consumer's batch window, the raw write,
the table's stream), an agent's item from the agent's clock (Connect's streaming, SNS, SQS,
the router's write, the stream). This lag is part of every latency the customer and the
agent see, and it is what grows first when the queues or the stream fall behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

import structlog
from prometheus_client import CollectorRegistry, Histogram

from service.bridge.events.connect import AgentItem
from service.bridge.events.transport import Acknowledgement, StreamItem
from service.bridge.events.whatsapp import InboundMessage
from service.bridge.policy.buffer import CustomerBuffer
from service.bridge.policy.lanes import AgentLanes
from service.clock import SYSTEM_CLOCK, Clock

log = structlog.get_logger(__name__)

_LAG_BUCKETS: Final = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30, 60, 300)


class Conversations:
    def __init__(
        self,
        *,
        decode: Callable[[StreamItem], InboundMessage | AgentItem],
        buffer: CustomerBuffer[InboundMessage],
        lanes: AgentLanes[AgentItem],
        registry: CollectorRegistry,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._decode = decode
        self._buffer = buffer
        self._lanes = lanes
        self._clock = clock
        lag = Histogram(
            "bridge_intake_lag_seconds",
            "From a customer's message's publication by EUM, or an agent's item's time in "
            "Connect, to its reaching the customer's owner (negative lags count as 0).",
            ["direction"],
            buckets=_LAG_BUCKETS,
            registry=registry,
        )
        self._inbound_lag = lag.labels(direction="inbound")
        self._outbound_lag = lag.labels(direction="outbound")

    async def submit(self, record: StreamItem, ack: Acknowledgement) -> None:
        try:
            decoded = self._decode(record)
        except Exception as exc:  # noqa: BLE001  whatever the item holds, it is this record's
            log.warning("record_undecodable", shard_id=record.shard_id, error=type(exc).__name__)
            await ack.park(f"undecodable: {type(exc).__name__}")
            return
        now = self._clock.time()
        if isinstance(decoded, AgentItem):
            sent_at = decoded.order_key  # inf when Connect gave no time
            if sent_at != float("inf"):
                self._outbound_lag.observe(max(0.0, now - sent_at))
            await self._lanes.add(record, ack, decoded)
        else:
            if decoded.published_at_ns is not None:
                self._inbound_lag.observe(max(0.0, now - decoded.published_at_ns / 1e9))
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
