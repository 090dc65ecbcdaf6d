"""One SQS message as the bridge sees it, with the SNS envelope (if any) unwrapped.

Subscriptions may or may not use raw message delivery; handlers should not care. With an
envelope, the payload is the SNS `Message` and the attributes are the SNS message
attributes; with raw delivery, the payload is the body and the attributes are the SQS
message attributes SNS copied over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types_aiobotocore_sqs.type_defs import MessageTypeDef


@dataclass(slots=True)
class QueueMessage:
    message_id: str
    # The latest receipt handle wins: a message redelivered while still being handled
    # gets a new handle, and only that one reliably deletes it.
    receipt_handle: str
    body: str
    receive_count: int
    payload: str
    attributes: dict[str, str]
    # The SNS MessageId survives SNS→SQS redelivery of the same publish, unlike the SQS
    # MessageId; it is the better duplicate key when present.
    sns_message_id: str | None = None
    topic_arn: str | None = None
    received_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        return self.sns_message_id or self.message_id


def from_sqs(raw: MessageTypeDef, *, received_at: float) -> QueueMessage:
    body = raw.get("Body", "")
    receive_count = int(raw.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
    envelope = _sns_envelope(body)
    if envelope is not None:
        attributes = {
            name: str(attr.get("Value", ""))
            for name, attr in (envelope.get("MessageAttributes") or {}).items()
            if isinstance(attr, dict)
        }
        return QueueMessage(
            message_id=raw["MessageId"],
            receipt_handle=raw["ReceiptHandle"],
            body=body,
            receive_count=receive_count,
            payload=str(envelope["Message"]),
            attributes=attributes,
            sns_message_id=envelope.get("MessageId"),
            topic_arn=envelope.get("TopicArn"),
            received_at=received_at,
        )
    attributes = {
        name: attr.get("StringValue", "") for name, attr in raw.get("MessageAttributes", {}).items()
    }
    return QueueMessage(
        message_id=raw["MessageId"],
        receipt_handle=raw["ReceiptHandle"],
        body=body,
        receive_count=receive_count,
        payload=body,
        attributes=attributes,
        received_at=received_at,
    )


def _sns_envelope(body: str) -> dict[str, Any] | None:
    if not body.startswith("{"):
        return None
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        # Anyone who can send to the queue controls this text: deep nesting raises
        # RecursionError, which is not a ValueError. Not an envelope, then; the handler
        # judges the body and gives that one message its verdict.
        return None
    if (
        isinstance(decoded, dict)
        and decoded.get("Type") == "Notification"
        and isinstance(decoded.get("Message"), str)
        and "TopicArn" in decoded
    ):
        return decoded
    return None
