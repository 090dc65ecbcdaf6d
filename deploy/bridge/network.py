"""The VPC the tasks run in: a new one with private subnets behind NAT, or an existing one."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

MAX_AZS = 2


@dataclass(frozen=True, slots=True)
class Network:
    vpc: ec2.IVpc
    # A literal, not the VPC's CidrBlock attribute: security group rules built from it can
    # be checked at synthesis (cdk-nag cannot evaluate a CloudFormation attribute).
    cidr: str


def create_network(
    scope: Construct,
    *,
    vpc_id: str | None,
    vpc_cidr: str,
    nat_gateways: int,
    log_retention: logs.RetentionDays,
    protect: bool,
) -> Network:
    if vpc_id is not None:
        # A lookup reads the account at synthesis (`cdk synth` with credentials); the stack
        # then needs an explicit account and region (assembly.py sets them). The VPC must
        # have private subnets with a route to the internet (NAT) or VPC endpoints.
        existing = ec2.Vpc.from_lookup(scope, "Vpc", vpc_id=vpc_id)
        return Network(vpc=existing, cidr=existing.vpc_cidr_block)
    flow_logs = logs.LogGroup(
        scope,
        "VpcFlowLogs",
        retention=log_retention,
        removal_policy=RemovalPolicy.RETAIN if protect else RemovalPolicy.DESTROY,
    )
    vpc = ec2.Vpc(
        scope,
        "Vpc",
        ip_addresses=ec2.IpAddresses.cidr(vpc_cidr),
        max_azs=MAX_AZS,
        # One NAT per AZ by default: with a single one, losing its AZ cuts every task off
        # from the AWS APIs. `nat_gateways=1` trades that for cost.
        nat_gateways=nat_gateways,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
            ec2.SubnetConfiguration(
                name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
            ),
        ],
        # Stated, not left to a feature flag: restricting it needs a Lambda-backed custom
        # resource, and nothing in this stack uses the default security group.
        restrict_default_security_group=False,
        flow_logs={
            # Rejected flows are what shows a probe or a misrouted call; the accepted ones of
            # a service that only calls AWS APIs are many and say little.
            "Rejected": ec2.FlowLogOptions(
                destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                traffic_type=ec2.FlowLogTrafficType.REJECT,
            )
        },
    )
    # Free gateway endpoints: DynamoDB and S3 traffic stays off the NAT (cost, and one hop
    # less between the tasks and their tables).
    vpc.add_gateway_endpoint("DynamoDbEndpoint", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB)
    vpc.add_gateway_endpoint("S3Endpoint", service=ec2.GatewayVpcEndpointAwsService.S3)
    return Network(vpc=vpc, cidr=vpc_cidr)
