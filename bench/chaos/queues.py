"""The harness's view of the SQS queues: depth, visibility timeout, DLQ contents."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.literals import QueueAttributeNameType

REASON_ATTRIBUTE = "bridge_reason"
_DEPTH_ATTRIBUTES: Final[tuple[QueueAttributeNameType, ...]] = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@dataclass(slots=True)
class DeadLetters:
    total: int = 0
    # Messages the bridge parked itself carry its reason; SQS's redrive (too many receives)
    # moves a message without adding one.
    with_reason: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def without_reason(self) -> int:
        return self.total - self.with_reason


async def depth(sqs: SQSClient, url: str) -> int:
    """Messages in the queue: visible, in flight (received, not deleted) and delayed."""
    answer = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(_DEPTH_ATTRIBUTES))
    attributes = answer.get("Attributes", {})
    return sum(int(attributes.get(name) or 0) for name in _DEPTH_ATTRIBUTES)


async def visibility_timeout_s(sqs: SQSClient, url: str) -> int:
    answer = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
    return int(answer.get("Attributes", {}).get("VisibilityTimeout", "30"))


def reason_kind(reason: str) -> str:
    """A reason without its details (`poison: record body is not JSON` → `poison`)."""
    return reason.split(":", 1)[0].strip()[:60] or "-"


async def drain_dead_letters(sqs: SQSClient, url: str) -> DeadLetters:
    """Receive and delete everything in a DLQ, counting reasons."""
    found = DeadLetters()
    while True:
        answer = await sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=1,
        )
        messages = answer.get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.total += 1
            attribute = message.get("MessageAttributes", {}).get(REASON_ATTRIBUTE)
            reason = attribute.get("StringValue") if attribute is not None else None
            if reason is not None:
                found.with_reason += 1
                found.reasons[reason_kind(reason)] += 1
        await sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages)
                if "ReceiptHandle" in m
            ],
        )
