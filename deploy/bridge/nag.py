"""Every cdk-nag (AWS Solutions) finding this stack accepts, with the reason, in one place.

Findings are fixed where a fix exists (encryption, TLS-only policies, flow logs, DLQs,
access logs, a literal CIDR for the admin rule). What remains below is acknowledged on the
narrowest construct and, for wildcard findings, for the one resource pattern reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, CfnResource, Stack, Token, Validations
from constructs import IConstruct

from deploy.bridge.stack import BridgeStack

PLUGIN = "AwsSolutions"


@dataclass(frozen=True, slots=True)
class AcceptedFinding:
    construct: IConstruct
    rule: str
    reason: str

    @property
    def acknowledgment_id(self) -> str:
        return f"{PLUGIN}::{self.rule}"


def _wildcard(resource: str) -> str:
    return f"AwsSolutions-IAM5[Resource::{resource}]"


def _logical_id(stack: Stack, construct: IConstruct) -> str:
    resource = construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource")
    return stack.get_logical_id(resource)


def _arn_token(stack: Stack, construct: IConstruct) -> str:
    """How cdk-nag prints a resource's ARN attribute: `<LogicalId.Arn>`."""
    return f"<{_logical_id(stack, construct)}.Arn>"


def _arn(stack: Stack, service: str, resource: str) -> str:
    """An ARN of this stack's account and region as cdk-nag prints it in a finding.

    Environment-agnostic stacks show pseudo parameters; a stack with an explicit
    environment (an existing VPC) shows the literal account and region.
    """
    region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
    account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
    return f"arn:<AWS::Partition>:{service}:{region}:{account}:{resource}"


def accepted_findings(stack: BridgeStack) -> list[AcceptedFinding]:
    instance = stack.options.pinned_connect_instance or "*"
    execution_role = stack.compute.task_definition.execution_role
    if execution_role is None:
        raise ValueError("the task definition has no execution role")
    task_role = stack.compute.task_definition.task_role
    task_policy = stack.node.find_child("TaskPolicy")
    return [
        *(
            AcceptedFinding(
                secret,
                "AwsSolutions-SMG4",
                "Generated once and read by the tasks at start. Rotating needs a rotation "
                "Lambda and a rolling restart; the admin token is also only reachable from "
                "inside the VPC, and a rotated log hash salt would break correlation of "
                "hashed ids across old and new logs. Rotate by updating the secret and "
                "forcing a new deployment.",
            )
            for secret in stack.config.secrets
        ),
        AcceptedFinding(
            stack.compute.task_definition,
            "AwsSolutions-ECS2",
            "The plain environment holds resource names, ARNs and tuning values only "
            "(deploy/bridge/environment.py); the two secrets come from Secrets Manager. "
            "They change only with the stack, which redeploys the task definition anyway.",
        ),
        AcceptedFinding(
            task_role,
            _wildcard("*"),
            "ECS Exec (operators' access to the admin API), added by CDK with "
            "enable_execute_command: the ssmmessages channel actions and "
            "logs:DescribeLogGroups support no resource-level permissions (Service "
            "Authorization Reference); the session log writes are scoped to the exec log "
            "group.",
        ),
        AcceptedFinding(
            task_role,
            _wildcard(
                _arn(
                    stack,
                    "logs",
                    f"log-group:<{_logical_id(stack, stack.compute.exec_log_group)}>:*",
                )
            ),
            "ECS Exec session logging (added by CDK): the log streams, one per session, "
            "of the dedicated exec log group only.",
        ),
        AcceptedFinding(
            execution_role,
            _wildcard("*"),
            "ecr:GetAuthorizationToken, added by CDK for pulling the image asset, supports "
            "no resource-level permissions; the pull actions themselves are scoped to the "
            "asset repository.",
        ),
        AcceptedFinding(
            task_policy,
            _wildcard(f"{_arn_token(stack, stack.media.media)}/*"),
            "Objects of the stack's own media bucket only: keys are per attachment "
            "(unknown in advance), the bucket holds nothing else and expires objects.",
        ),
        AcceptedFinding(
            task_policy,
            _wildcard(_arn(stack, "connect", f"instance/{instance}/contact-flow/*")),
            "StartChatContact is authorized on the contact flow, which the bridge reads "
            "from its SSM configuration at run time (operators may switch flows without a "
            "deployment); the instance is pinned when the connect_instance_id context "
            "is set.",
        ),
        AcceptedFinding(
            task_policy,
            _wildcard(_arn(stack, "connect", f"instance/{instance}/contact/*")),
            "StartContactStreaming is authorized on the contact, created by the bridge's "
            "own StartChatContact call a moment before: its id cannot be known in advance.",
        ),
        AcceptedFinding(
            task_policy,
            _wildcard(_arn(stack, "social-messaging", "phone-number-id/*")),
            "The bridge answers on whichever business phone number the customer wrote to "
            "(any number of the account's WhatsApp business accounts linked to the inbound "
            "topic); which numbers reach it is configured in EUM Social, not here.",
        ),
        AcceptedFinding(
            task_policy,
            _wildcard(_arn(stack, "social-messaging", "waba/*")),
            "Templates are read (never written) from the business account of whichever "
            "number a chat or an outreach uses; the account is learnt from the number at "
            "run time (GetLinkedWhatsAppBusinessAccountPhoneNumber).",
        ),
        AcceptedFinding(
            task_policy,
            _wildcard(_arn(stack, "transcribe", "transcription-job/bridge-*")),
            "One Transcribe job per voice note, named by the bridge from the delivery "
            "(`bridge-<token>`): the names are not known in advance; the prefix keeps the "
            "bridge off other jobs of the account.",
        ),
    ]


def acknowledge_findings(stack: BridgeStack) -> None:
    for finding in accepted_findings(stack):
        Validations.of(finding.construct).acknowledge(
            Acknowledgment(id=finding.acknowledgment_id, reason=finding.reason)
        )
