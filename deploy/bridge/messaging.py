"""SNS topics, SQS queues with their dead-letter queues, and the subscriptions between them.

Both topics are encrypted with one customer-managed key: an AWS-managed SNS key cannot be
shared with service principals, and EUM Social, Amazon Connect and CloudWatch (alarms) all
publish to topics of this stack. The queues use SQS-managed encryption, which SNS can
deliver to without a key policy and the bridge can read without KMS permissions.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from service.resources import QueueSpec, ResourcePlan, SubscriptionSpec

EUM_SOCIAL_PRINCIPAL = "social-messaging.amazonaws.com"
CONNECT_PRINCIPAL = "connect.amazonaws.com"
CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"
# What a service principal needs to publish to a topic encrypted with the key.
PUBLISH_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


@dataclass(frozen=True, slots=True)
class QueuePair:
    queue: sqs.Queue
    dlq: sqs.Queue


@dataclass(frozen=True, slots=True)
class Messaging:
    key: kms.Key
    inbound_topic: sns.Topic
    outbound_topic: sns.Topic
    inbound: QueuePair
    outbound: QueuePair

    @property
    def dead_letter_queues(self) -> tuple[sqs.Queue, ...]:
        return (self.inbound.dlq, self.outbound.dlq)


def _same_account() -> dict[str, dict[str, str]]:
    # Guards against the confused deputy: the service may publish only on behalf of
    # resources of this account.
    return {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}


def connect_source_conditions(
    scope: Construct, connect_instance_id: str | None
) -> dict[str, dict[str, str]]:
    """Conditions on Amazon Connect's publishing: this account, and the instance when known."""
    conditions = _same_account()
    if connect_instance_id is not None:
        instance_arn = Stack.of(scope).format_arn(
            service="connect", resource="instance", resource_name=connect_instance_id
        )
        conditions["ArnEquals"] = {"aws:SourceArn": instance_arn}
    return conditions


def _key(
    scope: Construct, *, connect_conditions: dict[str, dict[str, str]], protect: bool
) -> kms.Key:
    key = kms.Key(
        scope,
        "MessagingKey",
        description="Encrypts the WhatsApp bridge's SNS topics",
        enable_key_rotation=True,
        removal_policy=RemovalPolicy.RETAIN if protect else RemovalPolicy.DESTROY,
    )
    publishers = (
        ("EumSocialPublishes", EUM_SOCIAL_PRINCIPAL, _same_account()),
        ("ConnectPublishes", CONNECT_PRINCIPAL, connect_conditions),
        ("CloudWatchAlarmsPublish", CLOUDWATCH_PRINCIPAL, _same_account()),
    )
    for sid, principal, conditions in publishers:
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid,
                principals=[iam.ServicePrincipal(principal)],
                actions=list(PUBLISH_KEY_ACTIONS),
                # In a key policy "*" is the key itself.
                resources=["*"],
                conditions=conditions,
            )
        )
    return key


def encrypted_topic(
    scope: Construct, construct_id: str, *, name: str | None, key: kms.IKey
) -> sns.Topic:
    return sns.Topic(scope, construct_id, topic_name=name, master_key=key, enforce_ssl=True)


def allow_publish(
    topic: sns.Topic, *, sid: str, principal: str, conditions: dict[str, dict[str, str]]
) -> None:
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(principal)],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions=conditions,
        )
    )


def _queues(scope: Construct, construct_id: str, spec: QueueSpec, *, protect: bool) -> QueuePair:
    removal = RemovalPolicy.RETAIN if protect else RemovalPolicy.DESTROY
    dlq = sqs.Queue(
        scope,
        f"{construct_id}Dlq",
        queue_name=spec.dlq_name,
        retention_period=Duration.seconds(spec.dlq_retention_s),
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        removal_policy=removal,
    )
    queue = sqs.Queue(
        scope,
        construct_id,
        queue_name=spec.name,
        visibility_timeout=Duration.seconds(spec.visibility_timeout_s),
        retention_period=Duration.seconds(spec.retention_s),
        dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=spec.max_receive_count),
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        removal_policy=removal,
    )
    return QueuePair(queue=queue, dlq=dlq)


def _subscribe(topic: sns.Topic, queue: sqs.Queue, spec: SubscriptionSpec) -> None:
    filter_policy = (
        None
        if spec.filter_policy is None
        else {
            attribute: sns.SubscriptionFilter.string_filter(allowlist=list(values))
            for attribute, values in spec.filter_policy.items()
        }
    )
    topic.add_subscription(
        subscriptions.SqsSubscription(
            queue, raw_message_delivery=spec.raw_message_delivery, filter_policy=filter_policy
        )
    )


def create_messaging(
    scope: Construct, plan: ResourcePlan, *, connect_instance_id: str | None, protect: bool
) -> Messaging:
    connect_conditions = connect_source_conditions(scope, connect_instance_id)
    key = _key(scope, connect_conditions=connect_conditions, protect=protect)
    inbound_topic = encrypted_topic(scope, "InboundTopic", name=plan.inbound_topic, key=key)
    outbound_topic = encrypted_topic(scope, "OutboundTopic", name=plan.outbound_topic, key=key)
    # The WhatsApp business account's event destination (EUM Social publishes every event).
    allow_publish(
        inbound_topic,
        sid="EumSocialPublishes",
        principal=EUM_SOCIAL_PRINCIPAL,
        conditions=_same_account(),
    )
    # StartContactStreaming's endpoint: Connect publishes the chat's events.
    allow_publish(
        outbound_topic,
        sid="ConnectPublishes",
        principal=CONNECT_PRINCIPAL,
        conditions=connect_conditions,
    )
    inbound = _queues(scope, "InboundQueue", plan.inbound_queue, protect=protect)
    outbound = _queues(scope, "OutboundQueue", plan.outbound_queue, protect=protect)
    topics = {plan.inbound_topic: inbound_topic, plan.outbound_topic: outbound_topic}
    queues = {plan.inbound_queue.name: inbound.queue, plan.outbound_queue.name: outbound.queue}
    for spec in (plan.inbound_subscription, plan.outbound_subscription):
        _subscribe(topics[spec.topic], queues[spec.queue], spec)
    return Messaging(
        key=key,
        inbound_topic=inbound_topic,
        outbound_topic=outbound_topic,
        inbound=inbound,
        outbound=outbound,
    )
