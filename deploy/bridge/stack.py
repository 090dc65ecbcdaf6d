"""The bridge's one stack: every resource of `service.resources` plus the service running it."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from deploy.bridge.alarms import Alarms, create_alarms
from deploy.bridge.compute import Compute, ComputeInputs, create_compute
from deploy.bridge.config import RuntimeConfig, create_runtime_config
from deploy.bridge.data import Tables, create_tables
from deploy.bridge.environment import EnvironmentInputs, bridge_environment, bridge_secrets
from deploy.bridge.media import MediaBuckets, create_media_buckets
from deploy.bridge.messaging import Messaging, create_messaging
from deploy.bridge.network import create_network
from deploy.bridge.options import DeployOptions
from deploy.bridge.permissions import PermissionInputs, create_task_role
from deploy.bridge.scaling import add_autoscaling
from service.resources import ResourcePlan, resource_plan


class BridgeStack(Stack):
    """WhatsApp ⇄ Amazon Connect bridge on ECS Fargate."""

    def __init__(
        self, scope: Construct, construct_id: str, *, options: DeployOptions, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.options = options
        protect = options.deletion_protection
        self.plan: ResourcePlan = resource_plan(
            options.resource_names(),
            connect_instance_id=options.connect_instance_id,
            contact_flow_id=options.contact_flow_id,
        )
        self.tables: Tables = create_tables(self, self.plan, protect=protect)
        self.messaging: Messaging = create_messaging(
            self,
            self.plan,
            connect_instance_id=options.pinned_connect_instance,
            protect=protect,
        )
        self.media: MediaBuckets = create_media_buckets(
            self, self.plan.media_bucket, protect=protect
        )
        self.config: RuntimeConfig = create_runtime_config(
            self,
            self.plan,
            inbound_topic=self.messaging.inbound_topic,
            existing_config_parameter=options.existing_config_parameter,
            protect=protect,
        )
        network = create_network(
            self,
            vpc_id=options.vpc_id,
            vpc_cidr=options.vpc_cidr,
            nat_gateways=options.nat_gateways,
            log_retention=options.log_retention,
            protect=protect,
        )
        task_role = create_task_role(
            self,
            PermissionInputs(
                tables=self.tables,
                messaging=self.messaging,
                media_bucket=self.media.media,
                config=self.config,
                connect_instance_id=options.pinned_connect_instance,
            ),
        )
        environment = bridge_environment(
            EnvironmentInputs(
                name_prefix=options.name_prefix,
                max_tasks=options.max_count,
                tables=self.tables,
                messaging=self.messaging,
                media_bucket=self.media.media,
                config=self.config,
            )
        )
        self.compute: Compute = create_compute(
            self,
            ComputeInputs(
                vpc=network.vpc,
                vpc_cidr=network.cidr,
                task_role=task_role,
                environment=environment,
                secrets=bridge_secrets(self.config),
                desired_count=options.desired_count,
                cpu=options.task_cpu,
                memory_mib=options.task_memory_mib,
                log_retention=options.log_retention,
                protect=protect,
            ),
        )
        add_autoscaling(
            self.compute.service,
            inbound_queue=self.messaging.inbound.queue,
            min_tasks=options.desired_count,
            max_tasks=options.max_count,
        )
        self.alarms: Alarms = create_alarms(
            self,
            name_prefix=options.name_prefix,
            messaging=self.messaging,
            log_group=self.compute.log_group,
            alarm_email=options.alarm_email,
            error_threshold=options.error_log_threshold,
        )
        Tags.of(self).add("application", "whatsapp-connect-bridge")
        Tags.of(self).add("name-prefix", options.name_prefix)
        self._outputs()

    def _outputs(self) -> None:
        outputs = {
            "InboundTopicArn": (
                self.messaging.inbound_topic.topic_arn,
                "Event destination of the WhatsApp business account (EUM Social)",
            ),
            "ClusterName": (self.compute.cluster.cluster_name, "ECS cluster (for ECS Exec)"),
            "ServiceName": (self.compute.service.service_name, "ECS service of the bridge"),
            "AdminTokenSecretArn": (
                self.config.admin_token.secret_arn,
                "Bearer token of the admin API (/admin/* routes)",
            ),
            "AlarmTopicArn": (self.alarms.topic.topic_arn, "Subscribe here to get the alarms"),
            "ConnectConfigParameter": (
                self.config.connect_config.parameter_name,
                "Amazon Connect instance and contact flow of the bridge (JSON)",
            ),
        }
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, f"Output{output_id}", value=value, description=description)
