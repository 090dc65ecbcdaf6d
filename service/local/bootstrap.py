"""Create every resource of `service.resources` against an endpoint, idempotently.

Used by the sandbox (embedded AWS) and the test suite; `python -m service bootstrap`
runs it against whatever `AWS_ENDPOINT_URL` (or real AWS) says. Running it twice changes
nothing: each step first looks for what it would create.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from botocore.exceptions import ClientError

from service.resources import BucketSpec, QueueSpec, ResourcePlan, SubscriptionSpec, TableSpec

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.literals import ScalarAttributeTypeType
    from types_aiobotocore_dynamodb.type_defs import (
        AttributeDefinitionTypeDef,
        KeySchemaElementTypeDef,
    )
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.literals import QueueAttributeNameType
    from types_aiobotocore_ssm import SSMClient

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class BootstrapClients:
    dynamodb: DynamoDBClient
    sqs: SQSClient
    sns: SNSClient
    s3: S3Client
    ssm: SSMClient


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    """What a process needs to attach to the created resources."""

    queue_urls: dict[str, str]
    queue_arns: dict[str, str]
    topic_arns: dict[str, str]
    stream_arn: str
    env: dict[str, str]


async def bootstrap(clients: BootstrapClients, plan: ResourcePlan) -> BootstrapResult:
    for table in plan.tables:
        await _ensure_table(clients.dynamodb, table)
    queue_urls: dict[str, str] = {}
    queue_arns: dict[str, str] = {}
    for queue in plan.queues:
        urls, arns = await _ensure_queue(clients.sqs, queue)
        queue_urls |= urls
        queue_arns |= arns
    topic_arns = {
        name: (await clients.sns.create_topic(Name=name))["TopicArn"]
        for name in (plan.inbound_topic, plan.outbound_topic)
    }
    for sub in (plan.inbound_subscription, plan.outbound_subscription):
        await _ensure_subscription(
            clients, sub, topic_arns[sub.topic], queue_urls[sub.queue], queue_arns[sub.queue]
        )
    await _ensure_bucket(clients.s3, plan.media_bucket)
    await _ensure_parameter(
        clients.ssm, plan.connect_config.name, plan.connect_config.initial_value, overwrite=False
    )
    await _ensure_parameter(
        clients.ssm, plan.inbound_topic_arn.name, topic_arns[plan.inbound_topic], overwrite=True
    )
    described = await clients.dynamodb.describe_table(TableName=plan.raw_messages.name)
    stream_arn = described["Table"].get("LatestStreamArn", "")
    log.info(
        "bootstrap_done",
        tables=len(plan.tables),
        queues=len(queue_urls),
        topics=len(topic_arns),
    )
    return BootstrapResult(
        queue_urls=queue_urls,
        queue_arns=queue_arns,
        topic_arns=topic_arns,
        stream_arn=stream_arn,
        env={
            "BRIDGE_OUTBOUND_TOPIC_ARN": topic_arns[plan.outbound_topic],
            "SANDBOX_INBOUND_TOPIC_ARN": topic_arns[plan.inbound_topic],
            "SANDBOX_OUTBOUND_TOPIC_ARN": topic_arns[plan.outbound_topic],
            "SANDBOX_INBOUND_QUEUE_URL": queue_urls[plan.inbound_queue.name],
            "SANDBOX_INBOUND_DLQ_URL": queue_urls[plan.inbound_queue.dlq_name],
            "SANDBOX_OUTBOUND_QUEUE_URL": queue_urls[plan.outbound_queue.name],
            "SANDBOX_OUTBOUND_DLQ_URL": queue_urls[plan.outbound_queue.dlq_name],
            "SANDBOX_RAW_STREAM_ARN": stream_arn,
        },
    )


async def _ensure_table(dynamodb: DynamoDBClient, spec: TableSpec) -> None:
    try:
        await dynamodb.describe_table(TableName=spec.name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    else:
        return
    keys = [spec.partition_key] if spec.sort_key is None else [spec.partition_key, spec.sort_key]
    key_schema: list[KeySchemaElementTypeDef] = [
        {"AttributeName": k.name, "KeyType": "HASH" if i == 0 else "RANGE"}
        for i, k in enumerate(keys)
    ]
    attributes: list[AttributeDefinitionTypeDef] = [
        {"AttributeName": k.name, "AttributeType": _scalar(k.type)} for k in keys
    ]
    if spec.stream_view_type is not None:
        await dynamodb.create_table(
            TableName=spec.name,
            KeySchema=key_schema,
            AttributeDefinitions=attributes,
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": spec.stream_view_type},
        )
    else:
        await dynamodb.create_table(
            TableName=spec.name,
            KeySchema=key_schema,
            AttributeDefinitions=attributes,
            BillingMode="PAY_PER_REQUEST",
        )
    await dynamodb.get_waiter("table_exists").wait(
        TableName=spec.name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    if spec.ttl_attribute is not None:
        await dynamodb.update_time_to_live(
            TableName=spec.name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
        )
    log.info("bootstrap_table_created", table=spec.name)


def _scalar(kind: str) -> ScalarAttributeTypeType:
    if kind == "N":
        return "N"
    if kind == "B":
        return "B"
    return "S"


async def _ensure_queue(sqs: SQSClient, spec: QueueSpec) -> tuple[dict[str, str], dict[str, str]]:
    dlq_url = (
        await sqs.create_queue(
            QueueName=spec.dlq_name,
            Attributes={"MessageRetentionPeriod": str(spec.dlq_retention_s)},
        )
    )["QueueUrl"]
    dlq_arn = await _queue_arn(sqs, dlq_url)
    attributes: dict[QueueAttributeNameType, str] = {
        "VisibilityTimeout": str(spec.visibility_timeout_s),
        "MessageRetentionPeriod": str(spec.retention_s),
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
        ),
    }
    try:
        url = (await sqs.create_queue(QueueName=spec.name, Attributes=attributes))["QueueUrl"]
    except ClientError as exc:
        # An existing queue with other attributes: converge it instead of failing.
        if exc.response["Error"]["Code"] not in {"QueueAlreadyExists", "QueueNameExists"}:
            raise
        url = (await sqs.get_queue_url(QueueName=spec.name))["QueueUrl"]
        await sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    arn = await _queue_arn(sqs, url)
    return {spec.name: url, spec.dlq_name: dlq_url}, {spec.name: arn, spec.dlq_name: dlq_arn}


async def _queue_arn(sqs: SQSClient, url: str) -> str:
    attrs = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attrs["Attributes"]["QueueArn"]


async def _ensure_subscription(
    clients: BootstrapClients,
    spec: SubscriptionSpec,
    topic_arn: str,
    queue_url: str,
    queue_arn: str,
) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }
    await clients.sqs.set_queue_attributes(
        QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)}
    )
    existing = await clients.sns.list_subscriptions_by_topic(TopicArn=topic_arn)
    if any(s.get("Endpoint") == queue_arn for s in existing.get("Subscriptions", [])):
        return
    attributes = {"RawMessageDelivery": "true" if spec.raw_message_delivery else "false"}
    filter_policy = spec.filter_policy_json()
    if filter_policy is not None:
        attributes["FilterPolicy"] = filter_policy
    await clients.sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )
    log.info("bootstrap_subscription_created", topic=spec.topic, queue=spec.queue)


async def _ensure_bucket(s3: S3Client, spec: BucketSpec) -> None:
    try:
        await s3.head_bucket(Bucket=spec.name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in {"404", "NoSuchBucket", "NotFound"}:
            raise
        region = s3.meta.region_name
        if region in {None, "us-east-1"}:
            await s3.create_bucket(Bucket=spec.name)
        else:
            await s3.create_bucket(
                Bucket=spec.name,
                CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
            )
        log.info("bootstrap_bucket_created", bucket=spec.name)
    await s3.put_bucket_lifecycle_configuration(
        Bucket=spec.name,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire-media",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "Expiration": {"Days": spec.expiry_days},
                }
            ]
        },
    )


async def _ensure_parameter(ssm: SSMClient, name: str, value: str, *, overwrite: bool) -> None:
    if not overwrite:
        try:
            await ssm.get_parameter(Name=name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ParameterNotFound":
                raise
        else:
            # An operator's edited configuration is never replaced by the initial one.
            return
    await ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
