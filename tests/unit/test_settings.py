"""Settings come from BRIDGE_* variables, and a bad configuration names every problem."""

import re
import subprocess
import sys

import pytest

from service.resources import resource_plan
from service.settings import (
    ResourceSettings,
    Settings,
    SettingsError,
    load_settings,
    settings_table,
)

ARN = "arn:aws:sns:us-east-1:123456789012:wa-bridge-connect-out"
TOKEN = "0123456789abcdef-admin"


def test_values_come_from_prefixed_environment_variables(monkeypatch):
    monkeypatch.setenv("BRIDGE_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("BRIDGE_OUTBOUND_TOPIC_ARN", ARN)
    monkeypatch.setenv("BRIDGE_ADMIN_PORT", "9090")
    monkeypatch.setenv("BRIDGE_AWS_RETRY_MODE", "adaptive")
    settings = load_settings(Settings)
    assert settings.admin_port == 9090
    assert settings.aws_retry_mode == "adaptive"
    assert settings.admin_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)


def test_missing_and_bad_settings_are_all_named_in_one_message(monkeypatch):
    monkeypatch.setenv("BRIDGE_ADMIN_PORT", "not-a-port")
    monkeypatch.setenv("BRIDGE_LOG_LEVEL", "LOUD")
    with pytest.raises(SettingsError) as caught:
        load_settings(Settings)
    message = str(caught.value)
    for name in (
        "BRIDGE_ADMIN_TOKEN: is required",
        "BRIDGE_OUTBOUND_TOPIC_ARN: is required",
        "BRIDGE_ADMIN_PORT",
        "BRIDGE_LOG_LEVEL",
    ):
        assert name in message


@pytest.mark.parametrize("token", ["short", "changethis", "x" * 15])
def test_weak_admin_tokens_are_refused(token):
    with pytest.raises(ValueError, match="admin_token"):
        Settings(admin_token=token, outbound_topic_arn=ARN)


def test_outbound_topic_must_be_an_sns_arn():
    with pytest.raises(ValueError, match="outbound_topic_arn"):
        Settings(admin_token=TOKEN, outbound_topic_arn="connect-out")


def test_resource_names_derive_from_the_prefix_and_can_be_overridden():
    names = ResourceSettings(name_prefix="acme", sessions_table="Sessions-Prod").resource_names()
    assert names.raw_table == "acme-raw-messages"
    assert names.sessions_table == "Sessions-Prod"
    assert names.connect_config_parameter == "/acme/connect-config"
    with pytest.raises(ValueError, match="name_prefix"):
        ResourceSettings(name_prefix="Bad Prefix")


def test_readme_settings_table_matches_the_code(repo_root):
    readme = (repo_root / "README.md").read_text()
    block = re.search(r"<!-- settings:start -->\n(.*?)\n<!-- settings:end -->", readme, re.DOTALL)
    assert block is not None, "README lacks the generated settings table"
    assert block.group(1).strip() == settings_table().strip(), (
        "README settings table is stale: run `make docs`"
    )


def test_cli_refuses_to_start_with_one_clear_message(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "service", "run"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "BRIDGE_ADMIN_PORT": "70000"},
        check=False,
    )
    assert result.returncode == 2
    assert "BRIDGE_ADMIN_TOKEN: is required" in result.stderr
    assert "BRIDGE_OUTBOUND_TOPIC_ARN: is required" in result.stderr
    assert "BRIDGE_ADMIN_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_killed_workers_inbound_message_returns_inside_the_customers_open_burst():
    """DESIGN §5.4, issue 12 item 2: a message a killed worker had received is visible again
    after the inbound queue's visibility timeout; below the buffer's quiet window, it comes
    back while its customer's burst is still open and takes its place there."""
    plan = resource_plan(ResourceSettings(name_prefix="test").resource_names())
    quiet_s = Settings.model_fields["buffer_quiet_s"].default
    assert plan.inbound_queue.visibility_timeout_s < quiet_s
