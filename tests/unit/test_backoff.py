"""The one backoff: exponential, capped, never zero, spread by jitter."""

import random

import pytest

from service.backoff import Attempts, Backoff


def test_delays_grow_to_the_cap_and_keep_half_fixed():
    backoff = Backoff(base_s=0.1, max_s=1.0)
    rng = random.Random(5)
    for attempt in range(1, 12):
        ceiling = backoff.ceiling(attempt)
        delay = backoff.delay(attempt, rng)
        assert ceiling / 2 <= delay <= ceiling
    assert [backoff.ceiling(a) for a in (1, 2, 3, 4, 5, 6)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    )


def test_the_same_seed_gives_the_same_delays():
    backoff = Backoff(base_s=1, max_s=60)
    first = [backoff.delay(a, random.Random(3)) for a in range(1, 8)]
    second = [backoff.delay(a, random.Random(3)) for a in range(1, 8)]
    assert first == second


def test_a_huge_attempt_number_stays_at_the_cap():
    assert Backoff(base_s=0.5, max_s=30).ceiling(10_000) == 30


def test_attempts_count_up_and_start_over_after_reset():
    attempts = Attempts(Backoff(base_s=0.1, max_s=1.0), random.Random(1))
    delays = [attempts.next_delay() for _ in range(6)]
    assert delays[0] <= 0.1
    assert delays[-1] >= 0.5
    attempts.reset()
    assert attempts.next_delay() <= 0.1


def test_nonsense_is_refused():
    with pytest.raises(ValueError, match="backoff"):
        Backoff(base_s=2, max_s=1)
