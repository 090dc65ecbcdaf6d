"""The service's one backoff policy: exponential, capped, jittered.

Every retry loop (SQS receives and retries, stream reads and parking, raw writes, burst
deliveries) asks this for its next delay. "Equal" jitter keeps half the delay fixed and
randomises the other half: retries of many callers hit by one outage spread out, yet a
caller never retries at once. The random source is injected, so tests are repeatable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float
    max_s: float

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.max_s < self.base_s:
            raise ValueError("backoff needs 0 <= base_s <= max_s")

    def ceiling(self, attempt: int) -> float:
        """The longest delay before retry number `attempt` (1 for the first retry)."""
        exponent = min(max(0, attempt - 1), 32)
        return min(self.max_s, self.base_s * 2.0**exponent)

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = self.ceiling(attempt)
        return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


class Attempts:
    """A retry loop's running count, for loops that back off until something works."""

    __slots__ = ("_attempt", "_backoff", "_rng")

    def __init__(self, backoff: Backoff, rng: random.Random) -> None:
        self._backoff = backoff
        self._rng = rng
        self._attempt = 0

    def reset(self) -> None:
        self._attempt = 0

    def next_delay(self) -> float:
        self._attempt += 1
        return self._backoff.delay(self._attempt, self._rng)
