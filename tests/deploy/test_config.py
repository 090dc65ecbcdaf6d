"""SSM parameters and generated secrets."""

from __future__ import annotations

import json

from deploy.bridge.assembly import build_app
from service.resources import connect_config_json
from tests.deploy.cfn import container, container_environment, role_policy_statements

OLD_SAMPLE_PARAMETER = "/whatsapp_eum_connect_chat/config"


def _parameters(synth):
    return {
        resource["Properties"]["Name"]: resource["Properties"]
        for resource in synth.of_type("AWS::SSM::Parameter").values()
    }


def test_connect_configuration_has_the_old_samples_shape_with_placeholders(synthesized):
    parameters = _parameters(synthesized)
    config = parameters["/wa-bridge/connect-config"]
    assert config["Type"] == "String"
    assert config["Value"] == connect_config_json(
        instance_id="INSTANCE_ID", contact_flow_id="CONTACT_FLOW_ID"
    )
    assert set(json.loads(config["Value"])) == {
        "instance_id",
        "contact_flow_id",
        "chat_duration_minutes",
        "ignore_reactions",
        "ignore_stickers",
    }


def test_inbound_topic_arn_parameter_holds_the_created_topic(synthesized):
    parameters = _parameters(synthesized)
    topic_id = synthesized.logical_id(synthesized.stack.messaging.inbound_topic)
    assert parameters["/wa-bridge/inbound-topic-arn"]["Value"] == {"Ref": topic_id}


def test_migration_reads_the_old_samples_parameter_instead_of_creating_one(custom):
    parameters = _parameters(custom)
    assert OLD_SAMPLE_PARAMETER not in parameters
    assert set(parameters) == {"/acme-wa/inbound-topic-arn"}
    environment = container_environment(custom.resources)
    assert environment["BRIDGE_CONNECT_CONFIG_PARAMETER"] == OLD_SAMPLE_PARAMETER
    task_role = custom.logical_id(custom.stack.compute.task_definition.task_role)
    (statement,) = (
        s
        for s in role_policy_statements(custom.resources, task_role)
        if s.get("Sid") == "ReadConnectConfig"
    )
    assert statement["Action"] == "ssm:GetParameter"
    assert ":parameter/whatsapp_eum_connect_chat/config" in json.dumps(statement["Resource"])


def test_connect_ids_from_context_fill_a_created_parameter(tmp_path):
    _, stack = build_app(
        context={"connect_instance_id": "inst-1", "contact_flow_id": "flow-1"}, outdir=tmp_path
    )
    value = json.loads(stack.plan.connect_config.initial_value)
    assert (value["instance_id"], value["contact_flow_id"]) == ("inst-1", "flow-1")


def test_admin_token_and_log_salt_are_generated_secrets_injected_by_ecs(synthesized):
    secrets = synthesized.of_type("AWS::SecretsManager::Secret")
    assert len(secrets) == 2
    for secret in secrets.values():
        generator = secret["Properties"]["GenerateSecretString"]
        assert generator["PasswordLength"] >= 32
        assert generator["ExcludePunctuation"] is True
    injected = {
        entry["Name"]: entry["ValueFrom"] for entry in container(synthesized.resources)["Secrets"]
    }
    assert injected == {
        "BRIDGE_ADMIN_TOKEN": {"Ref": synthesized.logical_id(synthesized.stack.config.admin_token)},
        "BRIDGE_LOG_HASH_SALT": {
            "Ref": synthesized.logical_id(synthesized.stack.config.log_hash_salt)
        },
    }
    environment = container_environment(synthesized.resources)
    assert "BRIDGE_ADMIN_TOKEN" not in environment
    assert "BRIDGE_LOG_HASH_SALT" not in environment


def test_outputs_name_what_an_operator_configures_next(synthesized):
    outputs = synthesized.template["Outputs"]
    inbound = synthesized.logical_id(synthesized.stack.messaging.inbound_topic)
    assert outputs["OutputInboundTopicArn"]["Value"] == {"Ref": inbound}
    connect_config = synthesized.logical_id(synthesized.stack.config.connect_config)
    assert outputs["OutputConnectConfigParameter"]["Value"] == {"Ref": connect_config}
    for name in ("OutputClusterName", "OutputServiceName", "OutputAdminTokenSecretArn"):
        assert outputs[name]["Description"]
