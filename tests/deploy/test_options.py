"""CDK context → deployment options."""

from __future__ import annotations

import pytest

from deploy.bridge.options import (
    ContextResourceSettings,
    DeployOptions,
    DeployOptionsError,
    options_from_context,
)


def test_defaults_without_context():
    options = options_from_context({})
    assert options == DeployOptions()
    assert options.deletion_protection is True
    assert options.desired_count == 2
    assert options.pinned_connect_instance is None


def test_command_line_strings_and_json_values_are_both_accepted():
    from_cli = options_from_context(
        {"deletion_protection": "false", "desired_count": "4", "max_count": "9"}
    )
    from_json = options_from_context(
        {"deletion_protection": False, "desired_count": 4, "max_count": 9}
    )
    assert from_cli == from_json
    assert (from_cli.deletion_protection, from_cli.desired_count, from_cli.max_count) == (
        False,
        4,
        9,
    )


def test_every_problem_is_reported_at_once():
    with pytest.raises(DeployOptionsError) as caught:
        options_from_context(
            {"deletion_protection": "maybe", "desired_count": "two", "vpc_cidr": "10.0.0.0/8"}
        )
    message = str(caught.value)
    assert "deletion_protection" in message
    assert "desired_count" in message
    assert "vpc_cidr" in message


@pytest.mark.parametrize(
    ("context", "field"),
    [
        ({"desired_count": 1}, "desired_count"),
        ({"desired_count": 4, "max_count": 3}, "max_count"),
        ({"log_retention_days": 31}, "log_retention_days"),
        ({"name_prefix": "Not_Valid"}, "name_prefix"),
        ({"existing_config_parameter": "no-slash"}, "existing_config_parameter"),
        ({"nat_gateways": 0}, "nat_gateways"),
    ],
)
def test_unsafe_or_impossible_values_are_refused(context, field):
    with pytest.raises(DeployOptionsError, match=field):
        options_from_context(context)


def test_a_real_connect_instance_is_pinned_and_the_placeholder_is_not():
    assert options_from_context({"connect_instance_id": "abc"}).pinned_connect_instance == "abc"
    assert (
        options_from_context({"connect_instance_id": "INSTANCE_ID"}).pinned_connect_instance is None
    )


def test_resource_names_ignore_the_deployers_environment(monkeypatch):
    # The service reads BRIDGE_* from its environment; a deployer's shell must not rename
    # production resources.
    monkeypatch.setenv("BRIDGE_RAW_TABLE", "from-my-shell")
    monkeypatch.setenv("BRIDGE_NAME_PREFIX", "shell-prefix")
    names = options_from_context({"name_prefix": "prod"}).resource_names()
    assert names.raw_table == "prod-raw-messages"
    assert ContextResourceSettings(name_prefix="x1").resource_names().raw_table == "x1-raw-messages"


def test_existing_parameter_replaces_the_derived_one():
    names = options_from_context(
        {"existing_config_parameter": "/whatsapp_eum_connect_chat/config"}
    ).resource_names()
    assert names.connect_config_parameter == "/whatsapp_eum_connect_chat/config"
    assert names.inbound_topic_parameter == "/wa-bridge/inbound-topic-arn"
