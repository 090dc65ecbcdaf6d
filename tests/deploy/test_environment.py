"""The container's environment agrees with the service's settings and the created resources."""

from __future__ import annotations

from typing import Any

from deploy.bridge.environment import (
    DRAIN_TIMEOUT_S,
    META_MESSAGES_PER_S_PER_NUMBER,
    pacing_rate_per_task,
)
from deploy.bridge.options import ContextResourceSettings
from service.settings import ENV_PREFIX, ResourceSettings, Settings, load_settings
from tests.deploy.cfn import container, container_environment, physical_name, referenced_id

ACCOUNT, REGION = "123456789012", "eu-west-1"
RESOURCE_FIELDS = [name for name in ResourceSettings.model_fields if name != "name_prefix"]


def _concrete(synth, value: Any) -> str:
    """A deployed value for a template value: names resolved, ARNs and tokens made up."""
    if isinstance(value, str):
        return value
    if value == {"Ref": "AWS::Region"}:
        return REGION
    reference = referenced_id(value)
    assert reference is not None, value
    logical_id, attribute = reference
    resource = synth.resources[logical_id]
    if resource["Type"] == "AWS::SNS::Topic" and attribute == "Ref":
        return f"arn:aws:sns:{REGION}:{ACCOUNT}:{resource['Properties']['TopicName']}"
    if resource["Type"] == "AWS::S3::Bucket":
        return "generated-media-bucket"
    return physical_name(synth.resources, value)


def test_every_resource_name_setting_is_set_to_the_created_resource(synthesized):
    environment = container_environment(synthesized.resources)
    expected = ContextResourceSettings(name_prefix="wa-bridge").resource_names()
    for field in RESOURCE_FIELDS:
        value = environment[f"{ENV_PREFIX}{field.upper()}"]
        if field == "media_bucket":
            media = synthesized.logical_id(synthesized.stack.media.media)
            assert value == {"Ref": media}
        else:
            assert physical_name(synthesized.resources, value) == getattr(expected, field), field
    assert environment["BRIDGE_NAME_PREFIX"] == "wa-bridge"
    outbound = synthesized.logical_id(synthesized.stack.messaging.outbound_topic)
    assert environment["BRIDGE_OUTBOUND_TOPIC_ARN"] == {"Ref": outbound}


def test_every_variable_is_a_setting_of_the_service(synthesized):
    environment = container_environment(synthesized.resources)
    secrets = [entry["Name"] for entry in container(synthesized.resources)["Secrets"]]
    settings = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    unknown = {name for name in [*environment, *secrets] if name.startswith(ENV_PREFIX)} - settings
    assert unknown == set()
    assert {name for name in environment if not name.startswith(ENV_PREFIX)} == {
        "AWS_DEFAULT_REGION"
    }


def test_the_service_accepts_the_deployed_environment(synthesized, monkeypatch):
    environment = container_environment(synthesized.resources)
    for name, value in environment.items():
        monkeypatch.setenv(name, _concrete(synthesized, value))
    monkeypatch.setenv("BRIDGE_ADMIN_TOKEN", "x" * 48)
    monkeypatch.setenv("BRIDGE_LOG_HASH_SALT", "y" * 48)
    settings = load_settings(Settings)
    assert settings.admin_host == "0.0.0.0"  # noqa: S104  the container's bind address under test
    assert settings.admin_port == 8080
    assert settings.log_format == "json"
    assert settings.drain_timeout_s == DRAIN_TIMEOUT_S
    assert settings.cloudwatch_metrics_interval_s == 60
    assert settings.outbound_topic_arn.endswith(":wa-bridge-connect-out")
    assert settings.resource_names().raw_table == "wa-bridge-raw-messages"


def test_pacing_shares_metas_per_number_limit_across_the_largest_fleet(synthesized, custom):
    for synth in (synthesized, custom):
        max_tasks = synth.stack.options.max_count
        rate = float(container_environment(synth.resources)["BRIDGE_PACING_NUMBER_RATE_PER_S"])
        assert rate == pacing_rate_per_task(max_tasks)
        assert rate * max_tasks <= META_MESSAGES_PER_S_PER_NUMBER
        assert rate * max_tasks > META_MESSAGES_PER_S_PER_NUMBER - 0.01
    assert pacing_rate_per_task(6) == 13.333
    assert pacing_rate_per_task(8) == 10.0


def test_the_deployment_drains_within_the_ecs_stop_timeout(synthesized):
    environment = container_environment(synthesized.resources)
    stop_timeout = container(synthesized.resources)["StopTimeout"]
    assert float(environment["BRIDGE_DRAIN_TIMEOUT_S"]) < stop_timeout
    assert stop_timeout == 40
