import pytest

from service.consumers.stream.config import StreamConsumerConfig


def test_defaults_are_valid_and_poll_at_most_every_quarter_second():
    config = StreamConsumerConfig()
    assert config.idle_poll_interval_s <= 0.25
    assert config.renew_interval_s < config.lease_duration_s - config.fencing_safety_s


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"idle_poll_interval_s": 0.5}, "idle_poll_interval_s"),
        ({"renew_interval_s": 9.0}, "renew_interval_s"),
        ({"fencing_safety_s": 10.0}, "fencing_safety_s"),
        ({"batch_limit": 1001}, "batch_limit"),
        ({"describe_page_limit": 0}, "describe_page_limit"),
        ({"finished_lease_retention_s": 3600.0}, "finished_lease_retention_s"),
        ({"drain_deadline_s": 0.0}, "drain_deadline_s"),
        ({"max_leases_per_worker": 0}, "max_leases_per_worker"),
    ],
)
def test_unsafe_settings_are_refused(changes, problem):
    with pytest.raises(ValueError, match=problem):
        StreamConsumerConfig(**changes)
