"""The task role: exactly the AWS calls the bridge's production code makes, per resource.

`tests/deploy/test_permissions.py` scans `service/` for client calls and fails when this
list and the code disagree in either direction. When a module starts calling something
new, add the action here next to the resource it touches.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from deploy.bridge.config import RuntimeConfig
from deploy.bridge.data import Tables
from deploy.bridge.messaging import Messaging

# What ECS Exec's agent in the container calls, not the bridge: CDK adds them to the task
# role with enable_execute_command (compute.py), named here so the tests can tell them from
# the bridge's own. The channel actions support no resource-level permissions.
ECS_EXEC_CHANNEL_ACTIONS = frozenset(
    {
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
    }
)
# Session logging to the cluster's exec log group (DescribeLogGroups cannot be scoped).
ECS_EXEC_LOG_ACTIONS = frozenset(
    {
        "logs:DescribeLogGroups",
        "logs:CreateLogStream",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
    }
)
ECS_EXEC_ACTIONS = ECS_EXEC_CHANNEL_ACTIONS | ECS_EXEC_LOG_ACTIONS


@dataclass(frozen=True, slots=True)
class PermissionInputs:
    tables: Tables
    messaging: Messaging
    media_bucket: s3.IBucket
    config: RuntimeConfig
    connect_instance_id: str | None


def _dynamodb(tables: Tables) -> list[iam.PolicyStatement]:
    def on(table_arn: str, sid: str, *operations: str) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            sid=sid, actions=[f"dynamodb:{op}" for op in operations], resources=[table_arn]
        )

    raw = tables.raw_messages
    stream_arn = raw.table_stream_arn
    if stream_arn is None:
        raise ValueError("the raw-messages table must have a stream")
    return [
        # bridge/adapters/raw_messages.py (batch writes, history queries, the order gate's
        # batch reads); app.py checks it and reads its stream ARN.
        on(
            raw.table_arn,
            "RawMessagesTable",
            "BatchWriteItem",
            "BatchGetItem",
            "Query",
            "DescribeTable",
        ),
        # consumers/shards.py and consumers/reader.py.
        on(stream_arn, "RawMessagesStream", "DescribeStream", "GetShardIterator", "GetRecords"),
        # bridge/sessions.py; its transactions put and delete items (TransactWriteItems is
        # authorized by the actions of its items).
        on(
            tables.sessions.table_arn,
            "SessionsTable",
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "Scan",
        ),
        # consumers/leases.py; the readiness check describes it.
        on(
            tables.leases.table_arn,
            "LeasesTable",
            "GetItem",
            "PutItem",
            "UpdateItem",
            "Scan",
            "DescribeTable",
        ),
        # bridge/adapters/claims.py (send claims; a completed send and its remembered
        # message are one batch write) and bridge/adapters/ledger.py (delivery ledger,
        # whose transactions put items).
        on(
            tables.idempotency.table_arn,
            "IdempotencyTable",
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "BatchGetItem",
            "BatchWriteItem",
        ),
    ]


def _messaging(messaging: Messaging) -> list[iam.PolicyStatement]:
    queues = [messaging.inbound.queue.queue_arn, messaging.outbound.queue.queue_arn]
    dlqs = [queue.queue_arn for queue in messaging.dead_letter_queues]
    return [
        # consumers/sqs.py. The batch calls (DeleteMessageBatch,
        # ChangeMessageVisibilityBatch) are authorized by their single-message actions.
        iam.PolicyStatement(
            sid="ConsumeQueues",
            actions=["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
            resources=queues,
        ),
        # consumers/sqs.py parks poison messages; bridge/dead_letters.py parks undeliverable
        # customer messages.
        iam.PolicyStatement(
            sid="ParkInDeadLetterQueues", actions=["sqs:SendMessage"], resources=dlqs
        ),
        # consumers/dead_letters.py (ParkedMessages, the admin console): look at parked
        # messages (receive, then make them visible again), redrive (delete after the resend)
        # and purge.
        iam.PolicyStatement(
            sid="OperateDeadLetterQueues",
            actions=[
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:PurgeQueue",
            ],
            resources=dlqs,
        ),
        # ... and a redrive sends a parked message back to the queue it came from.
        iam.PolicyStatement(
            sid="RedriveToSourceQueues", actions=["sqs:SendMessage"], resources=queues
        ),
        # app.py resolves every queue's URL by name at start and in the readiness check.
        iam.PolicyStatement(
            sid="ResolveQueueUrls", actions=["sqs:GetQueueUrl"], resources=queues + dlqs
        ),
        # app.py's readiness check of the streaming topic.
        iam.PolicyStatement(
            sid="CheckOutboundTopic",
            actions=["sns:GetTopicAttributes"],
            resources=[messaging.outbound_topic.topic_arn],
        ),
    ]


def _media(bucket: s3.IBucket) -> list[iam.PolicyStatement]:
    # bridge/media.py copies agent attachments in (PutObject), then either presigns a GET
    # link for Meta or has EUM Social read the object with the caller's rights
    # (PostWhatsAppMessageMedia from S3): both need GetObject. EUM Social writes a
    # customer's media in with the caller's rights too (GetWhatsAppMessageMedia:
    # PutObject), and bridge/inbound_media.py reads it back (GetObject).
    return [
        iam.PolicyStatement(
            sid="MediaObjects",
            actions=["s3:PutObject", "s3:GetObject"],
            resources=[bucket.arn_for_objects("*")],
        ),
        # bridge/inbound_media.py finds the object EUM named (`<prefix><media id>.<ext>`)
        # by listing its own per-media prefix.
        iam.PolicyStatement(
            sid="FindInboundMedia",
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
        ),
    ]


def _connect(scope: Construct, connect_instance_id: str | None) -> list[iam.PolicyStatement]:
    stack = Stack.of(scope)
    # The instance and contact flow are read from SSM at run time and may change without a
    # deployment; the instance is pinned when the context names it.
    instance = connect_instance_id or "*"

    def arn(resource_name: str) -> str:
        return stack.format_arn(service="connect", resource="instance", resource_name=resource_name)

    return [
        # bridge/connect_chat.py. The Participant API (connectparticipant) is authorized by
        # participant and connection tokens, not IAM.
        iam.PolicyStatement(
            sid="StartChats",
            actions=["connect:StartChatContact"],
            resources=[arn(f"{instance}/contact-flow/*")],
        ),
        iam.PolicyStatement(
            sid="StreamChats",
            actions=["connect:StartContactStreaming"],
            resources=[arn(f"{instance}/contact/*")],
        ),
        # bridge/adapters/voice.py adds the bridge's own participant (CUSTOM_BOT) to a live
        # chat: the action is authorized on the contact, pinned to the same instance.
        iam.PolicyStatement(
            sid="AddBridgeParticipant",
            actions=["connect:CreateParticipant"],
            resources=[arn(f"{instance}/contact/*")],
        ),
    ]


def _whatsapp(scope: Construct) -> list[iam.PolicyStatement]:
    # bridge/whatsapp.py sends; bridge/media.py uploads media; bridge/inbound_media.py
    # copies a customer's media into the media bucket; bridge/templates.py finds a
    # number's business account. Any phone number of the account's WhatsApp business
    # accounts: which numbers write to the bridge is decided in EUM Social (the event
    # destination), not here.
    stack = Stack.of(scope)
    return [
        iam.PolicyStatement(
            sid="SendWhatsApp",
            actions=[
                "social-messaging:SendWhatsAppMessage",
                "social-messaging:PostWhatsAppMessageMedia",
                "social-messaging:GetWhatsAppMessageMedia",
                "social-messaging:GetLinkedWhatsAppBusinessAccountPhoneNumber",
            ],
            resources=[
                stack.format_arn(
                    service="social-messaging", resource="phone-number-id", resource_name="*"
                )
            ],
        ),
        # bridge/templates.py: the approved templates an agent (/templates, /template), the
        # re-engagement policy and outreach send; read only, on business accounts.
        iam.PolicyStatement(
            sid="ReadWhatsAppTemplates",
            actions=[
                "social-messaging:ListWhatsAppMessageTemplates",
                "social-messaging:GetWhatsAppMessageTemplate",
            ],
            resources=[
                stack.format_arn(service="social-messaging", resource="waba", resource_name="*")
            ],
        ),
    ]


def _transcribe(scope: Construct) -> iam.PolicyStatement:
    # bridge/transcribe.py: one batch job per voice note, named `bridge-…`. Transcribe reads
    # the note and writes its output with the caller's rights: the media bucket's
    # GetObject and PutObject above cover both.
    return iam.PolicyStatement(
        sid="TranscribeVoiceNotes",
        actions=["transcribe:StartTranscriptionJob", "transcribe:GetTranscriptionJob"],
        resources=[
            Stack.of(scope).format_arn(
                service="transcribe", resource="transcription-job", resource_name="bridge-*"
            )
        ],
    )


def task_role_statements(scope: Construct, inputs: PermissionInputs) -> list[iam.PolicyStatement]:
    return [
        *_dynamodb(inputs.tables),
        *_messaging(inputs.messaging),
        *_media(inputs.media_bucket),
        # connect_config.py reads (and re-reads) the Connect configuration.
        iam.PolicyStatement(
            sid="ReadConnectConfig",
            actions=["ssm:GetParameter"],
            resources=[inputs.config.connect_config.parameter_arn],
        ),
        *_connect(scope, inputs.connect_instance_id),
        *_whatsapp(scope),
        _transcribe(scope),
    ]


def create_task_role(scope: Construct, inputs: PermissionInputs) -> iam.Role:
    stack = Stack.of(scope)
    role = iam.Role(
        scope,
        "TaskRole",
        # Only ECS tasks of this account may assume it (confused deputy).
        assumed_by=iam.ServicePrincipal(
            "ecs-tasks.amazonaws.com",
            conditions={
                "ArnLike": {"aws:SourceArn": stack.format_arn(service="ecs", resource="*")},
                "StringEquals": {"aws:SourceAccount": stack.account},
            },
        ),
        description="The WhatsApp bridge's tasks: its tables, queues, bucket, Connect, EUM Social",
    )
    policy = iam.Policy(scope, "TaskPolicy", statements=task_role_statements(scope, inputs))
    policy.attach_to_role(role)
    return role
