"""Runtime configuration outside the task definition: SSM parameters and generated secrets."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from service.resources import ResourcePlan

SECRET_LENGTH = 48


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    connect_config: ssm.IStringParameter
    inbound_topic_arn: ssm.StringParameter
    admin_token: secretsmanager.Secret
    log_hash_salt: secretsmanager.Secret

    @property
    def secrets(self) -> tuple[secretsmanager.Secret, ...]:
        return (self.admin_token, self.log_hash_salt)


def _generated_secret(
    scope: Construct, construct_id: str, *, description: str, removal: RemovalPolicy
) -> secretsmanager.Secret:
    return secretsmanager.Secret(
        scope,
        construct_id,
        description=description,
        # Alphanumeric: the values travel through environment variables and HTTP headers.
        generate_secret_string=secretsmanager.SecretStringGenerator(
            password_length=SECRET_LENGTH, exclude_punctuation=True, include_space=False
        ),
        removal_policy=removal,
    )


def create_runtime_config(
    scope: Construct,
    plan: ResourcePlan,
    *,
    inbound_topic: sns.ITopic,
    existing_config_parameter: str | None,
    protect: bool,
) -> RuntimeConfig:
    removal = RemovalPolicy.RETAIN if protect else RemovalPolicy.DESTROY
    spec = plan.connect_config
    connect_config: ssm.IStringParameter
    if existing_config_parameter is not None:
        # Migration from the old sample: its parameter keeps working unchanged (same JSON).
        connect_config = ssm.StringParameter.from_string_parameter_name(
            scope, "ConnectConfig", existing_config_parameter
        )
    else:
        connect_config = ssm.StringParameter(
            scope,
            "ConnectConfig",
            parameter_name=spec.name,
            description=spec.description,
            string_value=spec.initial_value,
        )
    topic_spec = plan.inbound_topic_arn
    inbound_topic_arn = ssm.StringParameter(
        scope,
        "InboundTopicArn",
        parameter_name=topic_spec.name,
        description=topic_spec.description,
        # The created topic's ARN: what an operator enters as the WABA's event destination.
        string_value=inbound_topic.topic_arn,
    )
    return RuntimeConfig(
        connect_config=connect_config,
        inbound_topic_arn=inbound_topic_arn,
        admin_token=_generated_secret(
            scope,
            "AdminToken",
            description="Bearer token of the WhatsApp bridge's admin API (/admin/* routes)",
            removal=removal,
        ),
        log_hash_salt=_generated_secret(
            scope,
            "LogHashSalt",
            description="Key for hashing phone numbers and WhatsApp ids in the bridge's logs",
            removal=removal,
        ),
    )
