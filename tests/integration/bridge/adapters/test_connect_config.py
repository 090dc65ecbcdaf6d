"""The Connect configuration is read from SSM, re-read on change, and never lost to a bad edit."""

import json

import pytest

from service.bridge.adapters.connect_config import (
    ConnectConfigStore,
    ConnectConfigUnavailableError,
    parse_connect_config,
)

OLD_SAMPLE_VALUE = json.dumps(
    {
        "instance_id": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        "contact_flow_id": "ffffffff-1111-4222-8333-444444444444",
        "chat_duration_minutes": 60,
        "ignore_reactions": "yes",
        "ignore_stickers": "no",
    }
)


def test_the_old_samples_json_is_understood():
    config = parse_connect_config(OLD_SAMPLE_VALUE)
    assert config.chat_duration_minutes == 60
    assert config.ignore_reactions is True
    assert config.ignore_stickers is False


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"instance_id": "INSTANCE_ID", "contact_flow_id": "x"}), "placeholder"),
        (
            json.dumps({"instance_id": "i", "contact_flow_id": "f", "chat_duration_minutes": 5}),
            "chat_duration_minutes",
        ),
        (json.dumps({"instance_id": "i"}), "contact_flow_id"),
    ],
)
def test_unusable_values_are_rejected_with_the_reason(value, reason):
    with pytest.raises(Exception, match=reason):
        parse_connect_config(value)


async def test_refresh_picks_up_an_operators_change_and_keeps_the_last_good_value(aws_clients):
    ssm = aws_clients.ssm
    await ssm.put_parameter(Name="/t/config", Value=OLD_SAMPLE_VALUE, Type="String")
    store = ConnectConfigStore(ssm=ssm, parameter="/t/config", refresh_s=60)
    first = await store.refresh()
    assert first.chat_duration_minutes == 60

    edited = json.loads(OLD_SAMPLE_VALUE) | {"chat_duration_minutes": 720}
    await ssm.put_parameter(
        Name="/t/config", Value=json.dumps(edited), Type="String", Overwrite=True
    )
    assert (await store.refresh()).chat_duration_minutes == 720
    assert store.version == 2

    await ssm.put_parameter(Name="/t/config", Value="{broken", Type="String", Overwrite=True)
    assert (await store.refresh()).chat_duration_minutes == 720
    assert store.current().chat_duration_minutes == 720
    assert store.last_error is not None
    assert "not JSON" in store.last_error


async def test_no_configuration_yet_is_reported_not_invented(aws_clients):
    store = ConnectConfigStore(ssm=aws_clients.ssm, parameter="/missing", refresh_s=60)
    with pytest.raises(ConnectConfigUnavailableError, match="ParameterNotFound"):
        await store.refresh()
    with pytest.raises(ConnectConfigUnavailableError):
        await store.check()
