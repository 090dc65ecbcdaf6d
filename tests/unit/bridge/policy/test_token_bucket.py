"""The one token bucket: pure arithmetic on the times it is given."""

import pytest

from service.bridge.policy.token_bucket import TokenBucket


def test_tokens_refill_with_time_up_to_the_burst():
    bucket = TokenBucket(rate_per_s=1, burst=2, now=0.0)
    bucket.take(0.0)
    bucket.take(0.0)
    assert bucket.delay(0.0) == pytest.approx(1)
    assert bucket.full(100.0)
    bucket.take(100.0)
    bucket.take(100.0)
    assert bucket.delay(100.0) == pytest.approx(1)


def test_a_reservation_goes_negative_and_is_waited_out():
    bucket = TokenBucket(rate_per_s=2, burst=1, now=0.0)
    bucket.take(0.0)
    bucket.take(0.0)  # reserved ahead: the next token is due one interval later
    assert bucket.delay(0.0) == pytest.approx(1.0)
    assert bucket.delay(1.0) == 0.0


def test_drain_empties_but_keeps_reservations():
    bucket = TokenBucket(rate_per_s=1, burst=5, now=0.0)
    bucket.drain(0.0)
    assert bucket.delay(0.0) == pytest.approx(1)
    bucket.take(0.0)
    bucket.drain(0.0)
    assert bucket.delay(0.0) == pytest.approx(2)


def test_time_going_backwards_never_adds_tokens():
    bucket = TokenBucket(rate_per_s=1, burst=1, now=10.0)
    bucket.take(10.0)
    assert bucket.delay(5.0) == pytest.approx(1)


def test_rounding_never_makes_a_caller_wait_for_nothing():
    bucket = TokenBucket(rate_per_s=3, burst=1, now=0.0)
    bucket.take(0.0)
    now = bucket.delay(0.0)
    assert bucket.delay(now) == 0.0


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0.5)])
def test_a_bucket_needs_a_positive_rate_and_a_burst(rate, burst):
    with pytest.raises(ValueError, match="positive rate"):
        TokenBucket(rate_per_s=rate, burst=burst, now=0)
