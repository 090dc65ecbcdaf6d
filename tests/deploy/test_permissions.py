"""The task role grants exactly what the production code calls, and nothing with `*` actions."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deploy.bridge.permissions import ECS_EXEC_ACTIONS, ECS_EXEC_CHANNEL_ACTIONS
from tests.deploy.aws_calls import UnknownCallError, python_files, scan
from tests.deploy.cfn import as_list, iam_policy_statements, role_policy_statements

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICE = REPO_ROOT / "service"
# The sandbox's bootstrap creates resources; production code never does.
SANDBOX = SERVICE / "local"


def _task_role_statements(synth):
    role = synth.logical_id(synth.stack.compute.task_definition.task_role)
    return list(role_policy_statements(synth.resources, role))


def _actions(statements):
    return {action for statement in statements for action in as_list(statement["Action"])}


def test_task_role_grants_exactly_the_calls_of_the_production_code(synthesized):
    calls, needed = scan(python_files(SERVICE, exclude=[SANDBOX]))
    assert calls, "the scanner found no AWS call at all"
    assert not [call for call in calls if Path(call.path).resolve().is_relative_to(SANDBOX)]
    granted = _actions(_task_role_statements(synthesized))
    assert granted >= ECS_EXEC_CHANNEL_ACTIONS
    bridge_granted = granted - ECS_EXEC_ACTIONS
    assert bridge_granted - needed == set(), "granted but never called"
    assert needed - bridge_granted == set(), "called but not granted"


def test_the_scan_covers_every_service_the_bridge_talks_to(synthesized):
    calls, needed = scan(python_files(SERVICE, exclude=[SANDBOX]))
    assert {call.service for call in calls} == {
        "dynamodb",
        "dynamodbstreams",
        "sqs",
        "sns",
        "s3",
        "ssm",
        "connect",
        "connectparticipant",
        "socialmessaging",
        "transcribe",
    }
    # Spot checks of the mapping rules (batch, transaction, presign, renamed prefixes).
    assert {
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "s3:GetObject",
        "dynamodb:GetRecords",
        "social-messaging:SendWhatsAppMessage",
        "social-messaging:ListWhatsAppMessageTemplates",
        "social-messaging:GetLinkedWhatsAppBusinessAccountPhoneNumber",
    } <= needed
    assert not [a for a in needed if a.startswith("connectparticipant:")]


def test_no_identity_policy_has_a_wildcard_action(synthesized, custom):
    for synth in (synthesized, custom):
        statements = list(iam_policy_statements(synth.resources))
        assert statements
        for statement in statements:
            for action in as_list(statement["Action"]):
                assert "*" not in action, statement


def test_only_ecs_exec_may_use_an_unscoped_resource(synthesized):
    for statement in _task_role_statements(synthesized):
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) <= ECS_EXEC_ACTIONS, statement


def test_each_table_is_granted_only_what_its_modules_call(synthesized):
    by_sid = {s.get("Sid"): s for s in _task_role_statements(synthesized)}
    tables = synthesized.stack.tables

    def target(statement):
        return statement["Resource"]["Fn::GetAtt"][0]

    assert target(by_sid["RawMessagesTable"]) == synthesized.logical_id(tables.raw_messages)
    assert by_sid["RawMessagesStream"]["Resource"] == {
        "Fn::GetAtt": [synthesized.logical_id(tables.raw_messages), "StreamArn"]
    }
    assert target(by_sid["SessionsTable"]) == synthesized.logical_id(tables.sessions)
    assert target(by_sid["LeasesTable"]) == synthesized.logical_id(tables.leases)
    assert target(by_sid["IdempotencyTable"]) == synthesized.logical_id(tables.idempotency)
    # Table by table, exactly: the union is checked against the code's calls above, but a
    # call on a table its statement does not name is refused by IAM only in production
    # (the claims' batch write once was). Nothing writes raw items one by one or scans
    # them; nothing batch-writes sessions or leases.
    expected = {
        "RawMessagesTable": "BatchWriteItem BatchGetItem Query DescribeTable",
        "SessionsTable": "GetItem PutItem UpdateItem DeleteItem Scan",
        "LeasesTable": "GetItem PutItem UpdateItem Scan DescribeTable",
        "IdempotencyTable": "GetItem PutItem UpdateItem DeleteItem BatchGetItem BatchWriteItem",
    }
    for sid, operations in expected.items():
        actions = by_sid[sid]["Action"]
        assert set(actions if isinstance(actions, list) else [actions]) == {
            f"dynamodb:{op}" for op in operations.split()
        }, sid


def test_connect_permissions_pin_the_instance_named_in_context(custom):
    statements = {s.get("Sid"): s for s in _task_role_statements(custom)}
    for sid in ("StartChats", "StreamChats", "AddBridgeParticipant"):
        resource = str(statements[sid]["Resource"])
        assert "instance/11111111-2222-3333-4444-555555555555/" in resource
    # The bridge's own participant is added to contacts, nothing wider.
    bot = statements["AddBridgeParticipant"]
    assert bot["Action"] == "connect:CreateParticipant"
    assert "/contact/*" in str(bot["Resource"])
    assert "contact-flow" not in str(bot["Resource"])


def test_templates_are_read_on_business_accounts_only(synthesized):
    statements = {s.get("Sid"): s for s in _task_role_statements(synthesized)}
    templates = statements["ReadWhatsAppTemplates"]
    assert sorted(as_list(templates["Action"])) == [
        "social-messaging:GetWhatsAppMessageTemplate",
        "social-messaging:ListWhatsAppMessageTemplates",
    ]
    assert ":waba/*" in str(templates["Resource"])


def test_task_role_trusts_only_ecs_tasks_of_this_account(synthesized):
    role = synthesized.logical_id(synthesized.stack.compute.task_definition.task_role)
    (trust,) = synthesized.resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def _scan_source(tmp_path, source):
    module = tmp_path / "module.py"
    module.write_text(textwrap.dedent(source), encoding="utf-8")
    return scan([module])


def test_scanner_sees_a_new_call_through_an_injected_client(tmp_path):
    calls, actions = _scan_source(
        tmp_path,
        """
        from types_aiobotocore_sqs import SQSClient

        class Purger:
            def __init__(self, *, sqs: SQSClient) -> None:
                self._sqs = sqs

            async def purge(self, url: str) -> None:
                await self._sqs.purge_queue(QueueUrl=url)
                await self._sqs.send_message_batch(QueueUrl=url, Entries=[])
        """,
    )
    assert [(c.service, c.method) for c in calls] == [
        ("sqs", "purge_queue"),
        ("sqs", "send_message_batch"),
    ]
    assert actions == {"sqs:PurgeQueue", "sqs:SendMessage"}


def test_scanner_follows_aws_clients_fields_and_transaction_items(tmp_path):
    _, actions = _scan_source(
        tmp_path,
        """
        from dataclasses import dataclass
        from types_aiobotocore_dynamodb import DynamoDBClient
        from types_aiobotocore_s3 import S3Client

        @dataclass
        class AwsClients:
            dynamodb: DynamoDBClient
            s3: S3Client

        async def work(clients: AwsClients) -> None:
            await clients.dynamodb.transact_write_items(
                TransactItems=[{"Update": {}}, {"ConditionCheck": {}}]
            )
            await clients.s3.generate_presigned_url("put_object", Params={})
        """,
    )
    assert actions == {"dynamodb:UpdateItem", "dynamodb:ConditionCheckItem", "s3:PutObject"}


def test_scanner_refuses_a_method_that_is_no_operation(tmp_path):
    with pytest.raises(UnknownCallError, match="no operation 'frobnicate'"):
        _scan_source(
            tmp_path,
            """
            from types_aiobotocore_ssm import SSMClient

            async def f(ssm: SSMClient) -> None:
                await ssm.frobnicate()
            """,
        )
