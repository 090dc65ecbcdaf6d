"""Parking stream records the bridge could not deliver, durably, in the inbound DLQ.

A record is parked before it counts as done (so the shard checkpoint may pass it): the
parked copy carries the raw item and the reason, and can be replayed by an operator. The
customer is told with the failure reaction, when the record can still be decoded.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from service.bridge.adapters.raw_messages import decode_image
from service.bridge.flows.receipts import CustomerReceipts
from service.consumers.stream.records import StreamRecord

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

log = structlog.get_logger(__name__)

_MAX_REASON = 256


class ParkError(Exception):
    """The record could not be written to the DLQ; it must not be acknowledged."""


class SqsDeadLetters:
    def __init__(
        self, *, sqs: SQSClient, queue_url: str, receipts: CustomerReceipts | None = None
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._receipts = receipts

    async def park(self, record: StreamRecord, *, reason: str) -> None:
        body: dict[str, Any] = {
            "source": "raw-messages-stream",
            "shard_id": record.shard_id,
            "sequence_number": record.sequence_number,
            "keys": record.keys,
            "new_image": record.new_image,
            "reason": reason,
        }
        try:
            await self._sqs.send_message(
                QueueUrl=self._queue_url,
                MessageBody=json.dumps(body, default=str),
                MessageAttributes={
                    "bridge_reason": {
                        "DataType": "String",
                        "StringValue": reason[:_MAX_REASON] or "-",
                    },
                    "bridge_source": {"DataType": "String", "StringValue": "stream"},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise ParkError(f"DLQ send failed: {type(exc).__name__}") from exc
        log.warning("stream_record_parked", sequence_number=record.sequence_number, reason=reason)
        if self._receipts is not None:
            try:
                message = decode_image(record.new_image)
            except ValueError:
                return
            await self._receipts.failed([message])
