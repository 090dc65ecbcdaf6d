"""Pacing of WhatsApp sends: the per-customer pair rate and the per-number throughput.

Meta limits how fast one business number may write to one customer (a burst, then about
one message per 6 s; error 131056) and how many messages per second a number sends in
total (80 by default; error 130429). Both are token buckets here. A send *reserves* a
token in both buckets and waits out the later of the two delays; if that delay would be
longer than the caller can hold its work (the SQS visibility it keeps extending, the
batch it blocks), nothing is reserved and the caller retries later instead.

The buckets live in this process. With several workers the per-number rate should be
divided among them; the pair rate holds as long as one customer's events reach one
worker at a time, which the per-customer ordering mostly, not strictly, ensures.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from service.bridge.policy.token_bucket import TokenBucket
from service.clock import SYSTEM_CLOCK, Clock


@dataclass(frozen=True, slots=True)
class PacingConfig:
    pair_burst: float = 10.0
    pair_interval_s: float = 6.0
    number_rate_per_s: float = 80.0
    number_burst: float = 80.0
    # Beyond this wait a send is not held: the caller retries it later.
    max_wait_s: float = 20.0
    # Buckets kept for this many customers; the least recently used are forgotten (full).
    max_pairs: int = 100_000


@dataclass(frozen=True, slots=True)
class Reservation:
    admitted: bool
    wait_s: float


class Pacer:
    def __init__(
        self,
        config: PacingConfig | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._config = config or PacingConfig()
        self._clock = clock
        self._numbers: dict[str, TokenBucket] = {}
        self._pairs: OrderedDict[tuple[str, str], TokenBucket] = OrderedDict()

    @property
    def config(self) -> PacingConfig:
        return self._config

    def _number(self, business: str, now: float) -> TokenBucket:
        bucket = self._numbers.get(business)
        if bucket is None:
            bucket = TokenBucket(
                rate_per_s=self._config.number_rate_per_s,
                burst=self._config.number_burst,
                now=now,
            )
            self._numbers[business] = bucket
        return bucket

    def _pair(self, business: str, customer: str, now: float) -> TokenBucket:
        key = (business, customer)
        bucket = self._pairs.get(key)
        if bucket is None:
            bucket = TokenBucket(
                rate_per_s=1 / self._config.pair_interval_s,
                burst=self._config.pair_burst,
                now=now,
            )
            self._pairs[key] = bucket
            self._forget_idle(now)
        self._pairs.move_to_end(key)
        return bucket

    def _forget_idle(self, now: float) -> None:
        while len(self._pairs) > self._config.max_pairs:
            oldest_key, oldest = next(iter(self._pairs.items()))
            if not oldest.full(now):
                # Forgetting a bucket still paying off a burst would grant a fresh burst.
                self._pairs.move_to_end(oldest_key)
                return
            del self._pairs[oldest_key]

    def reserve(self, business: str, customer: str) -> Reservation:
        """Reserve one send to `customer` from `business`; wait `wait_s` before sending."""
        now = self._clock.monotonic()
        pair = self._pair(business, customer, now)
        number = self._number(business, now)
        wait = max(pair.delay(now), number.delay(now))
        if wait > self._config.max_wait_s:
            return Reservation(admitted=False, wait_s=wait)
        pair.take(now)
        number.take(now)
        return Reservation(admitted=True, wait_s=wait)

    def slow_down(self, business: str, customer: str | None = None) -> None:
        """Meta reported a rate limit: empty the customer's bucket, or the number's."""
        now = self._clock.monotonic()
        if customer is None:
            self._number(business, now).drain(now)
        else:
            self._pair(business, customer, now).drain(now)
