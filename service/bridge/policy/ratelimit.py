"""Client-side rate limiting of the Amazon Connect APIs (token buckets).

Connect answers an exceeded quota with 429s that botocore retries and that then surface as
errors; pacing our own calls below the documented quotas keeps bursts of customers from
turning into throttling storms. The quotas are shared with every other caller of the same
account/instance, so the defaults are the documented ones and operators can lower them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry, Counter

from service.bridge.policy.token_bucket import TokenBucket
from service.clock import SYSTEM_CLOCK, Clock


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_second <= 0:
            raise ValueError("per_second must be positive")
        if self.burst < 1:
            raise ValueError("burst must be at least 1")


class Limiter:
    """One quota's bucket; each `acquire` takes a token, waiting its turn if there is none.

    Waiters queue on a FIFO lock and the head sleeps exactly until its token is due, so
    there is no polling and a cancelled waiter gives its place up without taking a token.
    """

    def __init__(self, rate: Rate, *, clock: Clock) -> None:
        self.rate = rate
        self._clock = clock
        self._bucket = TokenBucket(
            rate_per_s=rate.per_second, burst=rate.burst, now=clock.monotonic()
        )
        self._lock = asyncio.Lock()
        self._waiting = 0  # callers inside `acquire`, queued on the lock or sleeping

    async def acquire(self) -> float:
        """Take a token; returns the seconds waited for it."""
        self._waiting += 1
        try:
            return await self._take()
        finally:
            self._waiting -= 1

    async def acquire_within(self, max_wait_s: float) -> bool:
        """Take a token if it comes within `max_wait_s`, counting the callers queued ahead;
        False at once (nothing taken, nothing waited) when it would come later."""
        due = self._bucket.delay(self._clock.monotonic(), ahead=self._waiting)
        if due > max_wait_s:
            return False
        await self.acquire()
        return True

    async def _take(self) -> float:
        # The wait is counted from arrival: a caller queued behind others waits on the lock
        # as long as for its own token (counting only the sleep once it held the lock
        # reported 0.06 s a burst where bursts queued ~1 s for SendMessage).
        started = self._clock.monotonic()
        queued = self._lock.locked()
        async with self._lock:
            while True:
                now = self._clock.monotonic()
                delay = self._bucket.delay(now)
                if delay <= 0:
                    self._bucket.take(now)
                    return max(0.0, now - started) if queued else 0.0
                queued = True
                await self._clock.sleep(delay)


# Connect Service quotas are per account and Region, Participant Service quotas per
# instance (reference/limits.md §1); callers name the scope a call spends.

DEFAULT_RATES: Final[Mapping[str, Rate]] = {
    "StartChatContact": Rate(5, 8),
    "StartContactStreaming": Rate(5, 8),
    "StopContactStreaming": Rate(5, 8),
    "CreateParticipant": Rate(5, 8),
    "SendMessage": Rate(10, 15),
    "CreateParticipantConnection": Rate(6, 9),
    "StartAttachmentUpload": Rate(2, 5),
    "CompleteAttachmentUpload": Rate(2, 5),
    "GetAttachment": Rate(8, 12),
    "GetTranscript": Rate(8, 12),
    "DisconnectParticipant": Rate(3, 5),
}

# The quota page lists SendMessage and SendEvent as one quota: they spend one bucket.
SHARED_QUOTAS: Final[Mapping[str, str]] = {"SendEvent": "SendMessage"}


class ConnectRateLimits:
    """One bucket per (quota, scope), created on first use."""

    def __init__(
        self,
        *,
        registry: CollectorRegistry,
        overrides: Mapping[str, Rate] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        overrides = dict(overrides or {})
        shared = sorted(set(overrides) & set(SHARED_QUOTAS))
        if shared:
            raise ValueError(f"{shared} share another API's quota; override that one instead")
        self._rates = {**DEFAULT_RATES, **overrides}
        self._clock = clock
        self._buckets: dict[tuple[str, str], Limiter] = {}
        self._waits = Counter(
            "bridge_connect_ratelimit_waits",
            "Connect API calls that waited for the client-side rate limiter",
            ["api"],
            registry=registry,
        )
        self._waited = Counter(
            "bridge_connect_ratelimit_wait_seconds",
            "Seconds Connect API calls spent waiting for the client-side rate limiter",
            ["api"],
            registry=registry,
        )

    def rate(self, api: str) -> Rate:
        quota = SHARED_QUOTAS.get(api, api)
        try:
            return self._rates[quota]
        except KeyError:
            raise ValueError(f"no rate is configured for {api}") from None

    def bucket(self, api: str, scope: str) -> Limiter:
        quota = SHARED_QUOTAS.get(api, api)
        key = (quota, scope)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = Limiter(self.rate(api), clock=self._clock)
            self._buckets[key] = bucket
        return bucket

    async def acquire(self, api: str, scope: str) -> None:
        waited = await self.bucket(api, scope).acquire()
        self._count(api, waited)

    async def acquire_within(self, api: str, scope: str, max_wait_s: float) -> bool:
        """A token within `max_wait_s` (waiting for it), or False at once: for calls that are
        worth a short wait but must not queue behind a quota that cannot keep up."""
        started = self._clock.monotonic()
        if not await self.bucket(api, scope).acquire_within(max_wait_s):
            return False
        self._count(api, self._clock.monotonic() - started)
        return True

    def _count(self, api: str, waited: float) -> None:
        if waited > 0:
            self._waits.labels(api=api).inc()
            self._waited.labels(api=api).inc(waited)
