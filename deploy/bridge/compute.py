"""The ECS Fargate service running the bridge: cluster, task definition, container, service."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from deploy.bridge.environment import ADMIN_PORT, STOP_TIMEOUT_S

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTAINER_NAME = "bridge"
HEALTH_CHECK = ("CMD", "python", "-m", "service", "healthcheck")
# The root filesystem is read-only; these stay writable (task-scoped, empty at start).
# /tmp for Python's tempfile users; the two /var paths are where ECS Exec's SSM agent
# keeps its state and logs, which it cannot start without (aws/containers-roadmap#1359).
WRITABLE_PATHS = {
    "tmp": "/tmp",  # noqa: S108  a volume of this task alone, not a shared /tmp
    "ssm-state": "/var/lib/amazon",
    "ssm-logs": "/var/log/amazon",
}


@dataclass(frozen=True, slots=True)
class ComputeInputs:
    vpc: ec2.IVpc
    vpc_cidr: str
    task_role: iam.IRole
    environment: dict[str, str]
    secrets: dict[str, ecs.Secret]
    desired_count: int
    cpu: int
    memory_mib: int
    log_retention: logs.RetentionDays
    protect: bool


@dataclass(frozen=True, slots=True)
class Compute:
    cluster: ecs.Cluster
    service: ecs.FargateService
    task_definition: ecs.FargateTaskDefinition
    container: ecs.ContainerDefinition
    log_group: logs.LogGroup
    exec_log_group: logs.LogGroup
    security_group: ec2.SecurityGroup


def bridge_image() -> ecs.ContainerImage:
    return ecs.ContainerImage.from_asset(
        str(REPO_ROOT),
        file="Dockerfile",
        target="runtime",
        platform=ecr_assets.Platform.LINUX_ARM64,
    )


def _task_definition(scope: Construct, inputs: ComputeInputs) -> ecs.FargateTaskDefinition:
    task_definition = ecs.FargateTaskDefinition(
        scope,
        "TaskDefinition",
        cpu=inputs.cpu,
        memory_limit_mib=inputs.memory_mib,
        runtime_platform=ecs.RuntimePlatform(
            cpu_architecture=ecs.CpuArchitecture.ARM64,
            operating_system_family=ecs.OperatingSystemFamily.LINUX,
        ),
        task_role=inputs.task_role,
    )
    for volume in WRITABLE_PATHS:
        task_definition.add_volume(name=volume)
    return task_definition


def _container(
    task_definition: ecs.FargateTaskDefinition, inputs: ComputeInputs, log_group: logs.ILogGroup
) -> ecs.ContainerDefinition:
    container = task_definition.add_container(
        CONTAINER_NAME,
        container_name=CONTAINER_NAME,
        image=bridge_image(),
        essential=True,
        environment=inputs.environment,
        secrets=inputs.secrets,
        logging=ecs.LogDrivers.aws_logs(
            stream_prefix=CONTAINER_NAME,
            log_group=log_group,
            # An asyncio service must never block on a log write; the buffer absorbs a slow
            # CloudWatch for a while instead.
            mode=ecs.AwsLogDriverMode.NON_BLOCKING,
            max_buffer_size=Size.mebibytes(25),
        ),
        health_check=ecs.HealthCheck(
            command=list(HEALTH_CHECK),
            interval=Duration.seconds(15),
            timeout=Duration.seconds(5),
            retries=3,
            start_period=Duration.seconds(60),
        ),
        stop_timeout=Duration.seconds(STOP_TIMEOUT_S),
        readonly_root_filesystem=True,
        port_mappings=[ecs.PortMapping(container_port=ADMIN_PORT, name="admin")],
    )
    container.add_mount_points(
        *(
            ecs.MountPoint(container_path=path, source_volume=volume, read_only=False)
            for volume, path in WRITABLE_PATHS.items()
        )
    )
    return container


def create_compute(scope: Construct, inputs: ComputeInputs) -> Compute:
    log_group = logs.LogGroup(
        scope,
        "BridgeLogs",
        retention=inputs.log_retention,
        removal_policy=RemovalPolicy.RETAIN if inputs.protect else RemovalPolicy.DESTROY,
    )
    exec_log_group = logs.LogGroup(
        scope,
        "ExecSessionLogs",
        retention=inputs.log_retention,
        removal_policy=RemovalPolicy.RETAIN if inputs.protect else RemovalPolicy.DESTROY,
    )
    cluster = ecs.Cluster(
        scope,
        "Cluster",
        vpc=inputs.vpc,
        container_insights_v2=ecs.ContainerInsights.ENABLED,
        # What operators type in ECS Exec sessions is kept apart from the bridge's JSON logs
        # (and its error-rate metric filter), as an audit trail of access to production.
        execute_command_configuration=ecs.ExecuteCommandConfiguration(
            logging=ecs.ExecuteCommandLogging.OVERRIDE,
            log_configuration=ecs.ExecuteCommandLogConfiguration(
                cloud_watch_log_group=exec_log_group
            ),
        ),
    )
    task_definition = _task_definition(scope, inputs)
    container = _container(task_definition, inputs, log_group)
    security_group = ec2.SecurityGroup(
        scope,
        "TaskSecurityGroup",
        vpc=inputs.vpc,
        description="WhatsApp bridge tasks: admin API from inside the VPC only",
        # The tasks call AWS APIs (through NAT) and download attachments from Connect.
        allow_all_outbound=True,
    )
    security_group.add_ingress_rule(
        ec2.Peer.ipv4(inputs.vpc_cidr),
        ec2.Port.tcp(ADMIN_PORT),
        "admin API (health, metrics, inspection) from inside the VPC",
    )
    service = ecs.FargateService(
        scope,
        "Service",
        cluster=cluster,
        task_definition=task_definition,
        desired_count=inputs.desired_count,
        # Never below the desired count during a deployment: the new tasks start (and take
        # over shard leases) before the old ones drain.
        min_healthy_percent=100,
        max_healthy_percent=200,
        circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
        # Operators reach the admin API with `aws ecs execute-command`; no load balancer.
        enable_execute_command=True,
        assign_public_ip=False,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
        security_groups=[security_group],
        platform_version=ecs.FargatePlatformVersion.LATEST,
        propagate_tags=ecs.PropagatedTagSource.SERVICE,
    )
    return Compute(
        cluster=cluster,
        service=service,
        task_definition=task_definition,
        container=container,
        log_group=log_group,
        exec_log_group=exec_log_group,
        security_group=security_group,
    )
