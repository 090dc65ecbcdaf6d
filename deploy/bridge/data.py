"""DynamoDB tables, one per `TableSpec` of the shared resource plan."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from service.resources import KeyAttribute, ResourcePlan, TableSpec

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}
_STREAM_VIEWS = {"NEW_IMAGE": dynamodb.StreamViewType.NEW_IMAGE}


@dataclass(frozen=True, slots=True)
class Tables:
    raw_messages: dynamodb.Table
    sessions: dynamodb.Table
    leases: dynamodb.Table
    idempotency: dynamodb.Table

    @property
    def all(self) -> tuple[dynamodb.Table, ...]:
        return (self.raw_messages, self.sessions, self.leases, self.idempotency)


def _attribute(key: KeyAttribute) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=_ATTRIBUTE_TYPES[key.type])


def _table(
    scope: Construct, construct_id: str, spec: TableSpec, *, protect: bool
) -> dynamodb.Table:
    return dynamodb.Table(
        scope,
        construct_id,
        table_name=spec.name,
        partition_key=_attribute(spec.partition_key),
        sort_key=None if spec.sort_key is None else _attribute(spec.sort_key),
        # Traffic follows WhatsApp bursts; on-demand needs no capacity planning.
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        stream=None if spec.stream_view_type is None else _STREAM_VIEWS[spec.stream_view_type],
        time_to_live_attribute=spec.ttl_attribute,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        deletion_protection=protect,
        removal_policy=RemovalPolicy.RETAIN if protect else RemovalPolicy.DESTROY,
    )


def create_tables(scope: Construct, plan: ResourcePlan, *, protect: bool) -> Tables:
    return Tables(
        raw_messages=_table(scope, "RawMessagesTable", plan.raw_messages, protect=protect),
        sessions=_table(scope, "SessionsTable", plan.sessions, protect=protect),
        leases=_table(scope, "LeasesTable", plan.leases, protect=protect),
        idempotency=_table(scope, "IdempotencyTable", plan.idempotency, protect=protect),
    )
