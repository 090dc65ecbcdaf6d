"""DynamoDB tables are built from the shared specs (service/resources.py)."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from service.resources import TTL_ATTRIBUTE, TableSpec


def _tables(synth) -> list[TableSpec]:
    return list(synth.stack.plan.tables)


def test_every_table_of_the_plan_is_created_with_its_keys_stream_and_ttl(synthesized):
    tables = synthesized.of_type("AWS::DynamoDB::Table")
    assert len(tables) == len(_tables(synthesized)) == 4
    for spec in _tables(synthesized):
        keys = [{"AttributeName": spec.partition_key.name, "KeyType": "HASH"}]
        attributes = [{"AttributeName": spec.partition_key.name, "AttributeType": "S"}]
        if spec.sort_key is not None:
            keys.append({"AttributeName": spec.sort_key.name, "KeyType": "RANGE"})
            attributes.append({"AttributeName": spec.sort_key.name, "AttributeType": "S"})
        stream = (
            {"StreamViewType": spec.stream_view_type} if spec.stream_view_type else Match.absent()
        )
        synthesized.assertions.has_resource_properties(
            "AWS::DynamoDB::Table",
            {
                "TableName": spec.name,
                "KeySchema": keys,
                "AttributeDefinitions": Match.array_equals(attributes),
                "BillingMode": "PAY_PER_REQUEST",
                "StreamSpecification": stream,
                "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            },
        )


def test_only_the_raw_table_streams_and_it_streams_new_images(synthesized):
    streaming = {
        resource["Properties"]["TableName"]: resource["Properties"]["StreamSpecification"]
        for resource in synthesized.of_type("AWS::DynamoDB::Table").values()
        if "StreamSpecification" in resource["Properties"]
    }
    raw = synthesized.stack.plan.raw_messages.name
    assert streaming == {raw: {"StreamViewType": "NEW_IMAGE"}}
    assert raw == "wa-bridge-raw-messages"


def test_tables_are_protected_and_retained_by_default(synthesized):
    for resource in synthesized.of_type("AWS::DynamoDB::Table").values():
        assert resource["Properties"]["DeletionProtectionEnabled"] is True
        assert resource["DeletionPolicy"] == "Retain"
        assert resource["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize(
    "resource_type",
    ["AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::S3::Bucket", "AWS::Logs::LogGroup"],
)
def test_deletion_protection_off_by_context_lets_stateful_resources_go(custom, resource_type):
    resources = custom.of_type(resource_type)
    assert resources
    for resource in resources.values():
        assert resource.get("DeletionPolicy", "Delete") == "Delete"
        if resource_type == "AWS::DynamoDB::Table":
            assert resource["Properties"]["DeletionProtectionEnabled"] is False


def test_table_names_follow_the_prefix_from_context(custom):
    names = {r["Properties"]["TableName"] for r in custom.of_type("AWS::DynamoDB::Table").values()}
    assert names == {
        "acme-wa-raw-messages",
        "acme-wa-sessions",
        "acme-wa-leases",
        "acme-wa-idempotency",
    }
