"""Pacing: the pair rate and the per-number rate, on a controlled clock."""

import pytest

from service.bridge.policy.pacing import Pacer, PacingConfig, Reservation
from tests.support.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_a_burst_passes_then_one_send_per_interval(clock: FakeClock):
    pacer = Pacer(PacingConfig(pair_burst=3, pair_interval_s=6, max_wait_s=100), clock=clock)
    waits = [pacer.reserve("biz", "ana").wait_s for _ in range(5)]
    assert waits[:3] == [0, 0, 0]
    assert waits[3:] == pytest.approx([6, 12])


def test_customers_do_not_share_a_pair_bucket(clock: FakeClock):
    pacer = Pacer(PacingConfig(pair_burst=1, pair_interval_s=6), clock=clock)
    assert pacer.reserve("biz", "ana").wait_s == 0
    assert pacer.reserve("biz", "bo").wait_s == 0
    assert pacer.reserve("biz", "ana").wait_s == pytest.approx(6)


def test_the_number_rate_is_shared_by_every_customer(clock: FakeClock):
    pacer = Pacer(PacingConfig(number_rate_per_s=2, number_burst=2), clock=clock)
    waits = [pacer.reserve("biz", f"c{i}").wait_s for i in range(4)]
    assert waits == pytest.approx([0, 0, 0.5, 1.0])
    assert pacer.reserve("other-biz", "c0").wait_s == 0


def test_a_wait_beyond_the_limit_is_refused_and_reserves_nothing(clock: FakeClock):
    pacer = Pacer(PacingConfig(pair_burst=1, pair_interval_s=6, max_wait_s=5), clock=clock)
    pacer.reserve("biz", "ana")
    refused = pacer.reserve("biz", "ana")
    assert not refused.admitted
    assert refused.wait_s == pytest.approx(6)
    clock.tick(6)
    assert pacer.reserve("biz", "ana") == Reservation(admitted=True, wait_s=0.0)


def test_slow_down_empties_the_customer_bucket_after_a_pair_rate_error(clock: FakeClock):
    pacer = Pacer(PacingConfig(pair_burst=10, pair_interval_s=6), clock=clock)
    assert pacer.reserve("biz", "ana").wait_s == 0
    pacer.slow_down("biz", "ana")
    assert pacer.reserve("biz", "ana").wait_s == pytest.approx(6)
    assert pacer.reserve("biz", "bo").wait_s == 0


def test_slow_down_of_the_number_delays_every_customer(clock: FakeClock):
    pacer = Pacer(PacingConfig(number_rate_per_s=10, number_burst=10), clock=clock)
    pacer.slow_down("biz")
    assert pacer.reserve("biz", "ana").wait_s == pytest.approx(0.1)
