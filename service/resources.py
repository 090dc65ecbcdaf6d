"""Every AWS resource the bridge uses, defined once.

The local bootstrap (`service.local.bootstrap`) and the CDK stack (`deploy/`) both build
from these specs, so key schemas, streams, TTL attributes, redrive policies and
subscription filters cannot drift between the sandbox and production.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from service.settings import ResourceNames

KeyType = Literal["S", "N", "B"]

# How long SQS hides a message while one worker handles it. Both queues' work is a parse and
# a DynamoDB write (outbound items are sent by the customer's owner, from the stream);
# workers extend visibility with a heartbeat while they work. It is also how long a message
# stays hidden when it was handed to a worker that was killed before answering: below the
# buffer's quiet window (5 s), so such a message returns while its customer's burst is
# still open and takes its place in it (DESIGN §5.4).
INBOUND_VISIBILITY_TIMEOUT_S = 4
OUTBOUND_VISIBILITY_TIMEOUT_S = 4
# A few failed deliveries are normal (throttling, a deploy cutting work short); a message
# still failing on its fifth receive is parked by the bridge, with its reason.
PARK_AFTER_RECEIVES = 5
# SQS's own redrive is the backstop for what the bridge could not park: received this many
# times without a worker ever answering (each one killed, or starved past the visibility
# timeout). Above PARK_AFTER_RECEIVES so the bridge parks first and says why: measured in a
# hostile flood on a starved 2-core machine, a redrive at the same count moved 40 messages
# to the DLQ without a reason.
MAX_RECEIVE_COUNT = 10
QUEUE_RETENTION_S = 4 * 24 * 3600
DLQ_RETENTION_S = 14 * 24 * 3600
# Media copied through the bucket is needed only for the hand-off between the two APIs.
MEDIA_EXPIRY_DAYS = 7

# Stream records of the raw table are only ever read for new messages.
RAW_MESSAGE_TTL_S = 7 * 24 * 3600
TTL_ATTRIBUTE = "expires_at"


@dataclass(frozen=True, slots=True)
class KeyAttribute:
    name: str
    type: KeyType = "S"


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None = None
    ttl_attribute: str | None = TTL_ATTRIBUTE
    stream_view_type: Literal["NEW_IMAGE"] | None = None
    purpose: str = ""


@dataclass(frozen=True, slots=True)
class QueueSpec:
    name: str
    dlq_name: str
    visibility_timeout_s: int
    max_receive_count: int = MAX_RECEIVE_COUNT
    retention_s: int = QUEUE_RETENTION_S
    dlq_retention_s: int = DLQ_RETENTION_S


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    topic: str
    queue: str
    # The SNS envelope is kept (no raw delivery): it carries the message attributes that
    # Connect streaming sets and the outbound path reads.
    raw_message_delivery: bool = False
    filter_policy: dict[str, list[str]] | None = None

    def filter_policy_json(self) -> str | None:
        return None if self.filter_policy is None else json.dumps(self.filter_policy)


@dataclass(frozen=True, slots=True)
class BucketSpec:
    name: str
    expiry_days: int = MEDIA_EXPIRY_DAYS


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    name: str
    description: str
    initial_value: str


@dataclass(frozen=True, slots=True)
class ResourcePlan:
    raw_messages: TableSpec
    sessions: TableSpec
    leases: TableSpec
    idempotency: TableSpec
    inbound_queue: QueueSpec
    outbound_queue: QueueSpec
    inbound_topic: str
    outbound_topic: str
    inbound_subscription: SubscriptionSpec
    outbound_subscription: SubscriptionSpec
    media_bucket: BucketSpec
    connect_config: ParameterSpec
    inbound_topic_arn: ParameterSpec
    tables: tuple[TableSpec, ...] = field(init=False)
    queues: tuple[QueueSpec, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "tables", (self.raw_messages, self.sessions, self.leases, self.idempotency)
        )
        object.__setattr__(self, "queues", (self.inbound_queue, self.outbound_queue))


def connect_config_json(
    *,
    instance_id: str,
    contact_flow_id: str,
    chat_duration_minutes: int = 1500,
    ignore_reactions: bool = True,
    ignore_stickers: bool = False,
) -> str:
    """The Connect configuration in the old sample's JSON shape (yes/no strings)."""
    return json.dumps(
        {
            "instance_id": instance_id,
            "contact_flow_id": contact_flow_id,
            "chat_duration_minutes": chat_duration_minutes,
            "ignore_reactions": "yes" if ignore_reactions else "no",
            "ignore_stickers": "yes" if ignore_stickers else "no",
        },
        indent=2,
    )


# Customer-facing Connect streaming events only: agent-only whispers never leave Connect.
OUTBOUND_FILTER_POLICY: dict[str, list[str]] = {"MessageVisibility": ["CUSTOMER", "ALL"]}


def resource_plan(
    names: ResourceNames,
    *,
    inbound_topic_arn: str = "",
    connect_instance_id: str = "INSTANCE_ID",
    contact_flow_id: str = "CONTACT_FLOW_ID",
) -> ResourcePlan:
    return ResourcePlan(
        raw_messages=TableSpec(
            name=names.raw_table,
            partition_key=KeyAttribute("customer"),
            sort_key=KeyAttribute("message_id"),
            stream_view_type="NEW_IMAGE",
            purpose="one item per WhatsApp message; its stream feeds the per-customer buffer",
        ),
        sessions=TableSpec(
            name=names.sessions_table,
            partition_key=KeyAttribute("pk"),
            purpose="live chat per (business number, customer) and its contact-id mapping",
        ),
        leases=TableSpec(
            name=names.leases_table,
            partition_key=KeyAttribute("lease_key"),
            purpose="one lease per stream shard; TTL set only on finished shards",
        ),
        idempotency=TableSpec(
            name=names.idempotency_table,
            partition_key=KeyAttribute("id"),
            purpose="claims for side effects without an idempotency token of their own",
        ),
        inbound_queue=QueueSpec(
            name=names.inbound_queue,
            dlq_name=names.inbound_dlq,
            visibility_timeout_s=INBOUND_VISIBILITY_TIMEOUT_S,
        ),
        outbound_queue=QueueSpec(
            name=names.outbound_queue,
            dlq_name=names.outbound_dlq,
            visibility_timeout_s=OUTBOUND_VISIBILITY_TIMEOUT_S,
        ),
        inbound_topic=names.inbound_topic,
        outbound_topic=names.outbound_topic,
        inbound_subscription=SubscriptionSpec(topic=names.inbound_topic, queue=names.inbound_queue),
        outbound_subscription=SubscriptionSpec(
            topic=names.outbound_topic,
            queue=names.outbound_queue,
            filter_policy=OUTBOUND_FILTER_POLICY,
        ),
        media_bucket=BucketSpec(name=names.media_bucket),
        connect_config=ParameterSpec(
            name=names.connect_config_parameter,
            description="Amazon Connect configuration of the WhatsApp bridge (JSON)",
            initial_value=connect_config_json(
                instance_id=connect_instance_id, contact_flow_id=contact_flow_id
            ),
        ),
        inbound_topic_arn=ParameterSpec(
            name=names.inbound_topic_parameter,
            description="SNS topic the WhatsApp business account's events go to",
            initial_value=inbound_topic_arn,
        ),
    )
