"""The container's environment: every `BRIDGE_*` setting the deployment decides."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_s3 as s3

from deploy.bridge.config import RuntimeConfig
from deploy.bridge.data import Tables
from deploy.bridge.messaging import Messaging
from service.settings import ENV_PREFIX

ADMIN_PORT = 8080
# SIGTERM budget of the bridge; ECS waits STOP_TIMEOUT_S before SIGKILL, so draining
# (flush buffers, checkpoints, lease release) always finishes with time to spare.
DRAIN_TIMEOUT_S = 25
STOP_TIMEOUT_S = 40
CLOUDWATCH_METRICS_INTERVAL_S = 60
# Meta's throughput per business phone number. Every task paces on its own, and any task
# may send for any number, so each gets an equal share of the limit at the largest scale:
# the sum stays within Meta's limit however far autoscaling goes (at the price of using
# only desired/max of it while the service is smaller).
META_MESSAGES_PER_S_PER_NUMBER = 80


@dataclass(frozen=True, slots=True)
class EnvironmentInputs:
    name_prefix: str
    max_tasks: int
    tables: Tables
    messaging: Messaging
    media_bucket: s3.IBucket
    config: RuntimeConfig


def pacing_rate_per_task(max_tasks: int) -> float:
    return round(META_MESSAGES_PER_S_PER_NUMBER / max_tasks, 3)


def bridge_environment(inputs: EnvironmentInputs) -> dict[str, str]:
    tables, messaging = inputs.tables, inputs.messaging
    settings = {
        # Names of everything the stack created (`service.settings.ResourceSettings`).
        "name_prefix": inputs.name_prefix,
        "raw_table": tables.raw_messages.table_name,
        "sessions_table": tables.sessions.table_name,
        "leases_table": tables.leases.table_name,
        "idempotency_table": tables.idempotency.table_name,
        "inbound_queue": messaging.inbound.queue.queue_name,
        "inbound_dlq": messaging.inbound.dlq.queue_name,
        "outbound_queue": messaging.outbound.queue.queue_name,
        "outbound_dlq": messaging.outbound.dlq.queue_name,
        "inbound_topic": messaging.inbound_topic.topic_name,
        "outbound_topic": messaging.outbound_topic.topic_name,
        "media_bucket": inputs.media_bucket.bucket_name,
        "connect_config_parameter": inputs.config.connect_config.parameter_name,
        "inbound_topic_parameter": inputs.config.inbound_topic_arn.parameter_name,
        # Runtime.
        "outbound_topic_arn": messaging.outbound_topic.topic_arn,
        # The task's own interface; the security group admits the VPC only.
        "admin_host": "0.0.0.0",  # noqa: S104  see above
        "admin_port": str(ADMIN_PORT),
        "log_format": "json",
        "drain_timeout_s": str(DRAIN_TIMEOUT_S),
        "pacing_number_rate_per_s": str(pacing_rate_per_task(inputs.max_tasks)),
        "cloudwatch_metrics_interval_s": str(CLOUDWATCH_METRICS_INTERVAL_S),
    }
    environment = {f"{ENV_PREFIX}{name.upper()}": value for name, value in settings.items()}
    # botocore's own variable (the bridge passes no region): stated rather than relying on
    # what the Fargate agent injects.
    environment["AWS_DEFAULT_REGION"] = Aws.REGION
    return environment


def bridge_secrets(config: RuntimeConfig) -> dict[str, ecs.Secret]:
    """Settings injected from Secrets Manager by the ECS agent: never in the task definition."""
    return {
        f"{ENV_PREFIX}ADMIN_TOKEN": ecs.Secret.from_secrets_manager(config.admin_token),
        f"{ENV_PREFIX}LOG_HASH_SALT": ecs.Secret.from_secrets_manager(config.log_hash_salt),
    }
