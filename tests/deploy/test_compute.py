"""The Fargate service, its task definition, container and image asset."""

from __future__ import annotations

import json

from deploy.bridge.compute import HEALTH_CHECK, WRITABLE_PATHS
from deploy.bridge.environment import ADMIN_PORT
from tests.deploy.cfn import container, task_definition

# The image context is the repository minus .dockerignore; a venv (hundreds of MB) or the
# synthesized output itself must never be copied into cdk.out.
MAX_ASSET_BYTES = 10 * 1024 * 1024


def _service(synth):
    (service,) = synth.of_type("AWS::ECS::Service").values()
    return service["Properties"]


def test_service_runs_at_least_two_private_tasks_with_rollback(synthesized):
    service = _service(synthesized)
    assert service["DesiredCount"] >= 2
    assert service["LaunchType"] == "FARGATE"
    assert service["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
    deployment = service["DeploymentConfiguration"]
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert deployment["MinimumHealthyPercent"] == 100
    assert service["EnableExecuteCommand"] is True
    # No load balancer anywhere: the admin API is reached with ECS Exec or from the VPC.
    assert "LoadBalancers" not in service
    assert not [r for r in synthesized.resources.values() if "ElasticLoadBalancing" in r["Type"]]


def test_desired_count_comes_from_context(custom):
    assert _service(custom)["DesiredCount"] == 3


def test_tasks_are_arm64_fargate_with_the_task_role(synthesized):
    definition = task_definition(synthesized.resources)
    assert definition["RuntimePlatform"] == {
        "CpuArchitecture": "ARM64",
        "OperatingSystemFamily": "LINUX",
    }
    assert definition["RequiresCompatibilities"] == ["FARGATE"]
    assert definition["NetworkMode"] == "awsvpc"
    role = synthesized.logical_id(synthesized.stack.compute.task_definition.task_role)
    assert definition["TaskRoleArn"] == {"Fn::GetAtt": [role, "Arn"]}


def test_container_is_hardened_and_health_checked(synthesized):
    bridge = container(synthesized.resources)
    assert bridge["ReadonlyRootFilesystem"] is True
    assert bridge["Essential"] is True
    assert bridge["HealthCheck"]["Command"] == list(HEALTH_CHECK)
    assert bridge["HealthCheck"]["Command"] == ["CMD", "python", "-m", "service", "healthcheck"]
    assert bridge["PortMappings"] == [
        {"ContainerPort": ADMIN_PORT, "Name": "admin", "Protocol": "tcp"}
    ]
    assert "Privileged" not in bridge
    mounts = {m["ContainerPath"]: m["ReadOnly"] for m in bridge["MountPoints"]}
    assert mounts == dict.fromkeys(WRITABLE_PATHS.values(), False)
    assert "/tmp" in mounts  # noqa: S108  the task-scoped scratch volume under test


def test_logs_go_to_a_retained_log_group_through_awslogs(synthesized, custom):
    bridge = container(synthesized.resources)
    log_group = synthesized.logical_id(synthesized.stack.compute.log_group)
    assert bridge["LogConfiguration"]["LogDriver"] == "awslogs"
    assert bridge["LogConfiguration"]["Options"]["awslogs-group"] == {"Ref": log_group}
    assert synthesized.resources[log_group]["Properties"]["RetentionInDays"] == 30
    custom_group = custom.logical_id(custom.stack.compute.log_group)
    assert custom.resources[custom_group]["Properties"]["RetentionInDays"] == 90


def test_admin_port_is_open_to_the_vpc_only(synthesized, custom):
    for synth, cidr in ((synthesized, "10.0.0.0/16"), (custom, "10.42.0.0/16")):
        group = synth.logical_id(synth.stack.compute.security_group)
        ingress = synth.resources[group]["Properties"]["SecurityGroupIngress"]
        assert [{k: v for k, v in rule.items() if k != "Description"} for rule in ingress] == [
            {"CidrIp": cidr, "FromPort": ADMIN_PORT, "IpProtocol": "tcp", "ToPort": ADMIN_PORT}
        ]
        # ... and no rule added to the group elsewhere.
        assert not [
            r
            for r in synth.of_type("AWS::EC2::SecurityGroupIngress").values()
            if r["Properties"].get("GroupId") == {"Fn::GetAtt": [group, "GroupId"]}
        ]


def test_cluster_has_container_insights_and_audited_exec_sessions(synthesized):
    (cluster,) = synthesized.of_type("AWS::ECS::Cluster").values()
    settings = cluster["Properties"]["ClusterSettings"]
    assert {"Name": "containerInsights", "Value": "enabled"} in settings
    exec_config = cluster["Properties"]["Configuration"]["ExecuteCommandConfiguration"]
    exec_logs = synthesized.logical_id(synthesized.stack.compute.exec_log_group)
    assert exec_config["Logging"] == "OVERRIDE"
    assert exec_config["LogConfiguration"]["CloudWatchLogGroupName"] == {"Ref": exec_logs}


def test_image_is_an_arm64_asset_of_the_runtime_target_without_the_venv(synthesized):
    manifest = json.loads(
        next(synthesized.outdir.glob("*.assets.json")).read_text(encoding="utf-8")
    )
    ((asset_hash, image),) = manifest["dockerImages"].items()
    assert asset_hash in json.dumps(container(synthesized.resources)["Image"])
    source = image["source"]
    assert source["dockerFile"] == "Dockerfile"
    assert source["dockerBuildTarget"] == "runtime"
    assert source["platform"] == "linux/arm64"
    folder = synthesized.outdir / source["directory"]
    files = [path for path in folder.rglob("*") if path.is_file()]
    assert (folder / "Dockerfile").is_file()
    assert (folder / "service" / "__main__.py").is_file()
    assert (folder / "uv.lock").is_file()
    relative = [path.relative_to(folder) for path in files]
    for excluded in (".venv", ".git", "tests", "deploy", ".mypy_cache"):
        assert not [p for p in relative if p.parts[0] == excluded], excluded
    size = sum(path.stat().st_size for path in files)
    print(f"image asset: {len(files)} files, {size / 1024:.0f} KiB")
    assert size < MAX_ASSET_BYTES
