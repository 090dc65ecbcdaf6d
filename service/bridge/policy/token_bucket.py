"""The one token bucket: `burst` tokens, refilled at `rate_per_s`.

Both rate limits of the bridge use it: the client-side pacing of Amazon Connect calls
(`ratelimit`: callers wait their turn) and the pacing of WhatsApp sends (`pacing`: a send
reserves its place and waits it out, or is refused when the wait is too long). Time is
passed in, so the bucket is pure arithmetic and tests need no clock at all.
"""

from __future__ import annotations

from typing import Final

# Float rounding: after waiting exactly the computed delay the bucket may hold 0.9999999
# tokens, and a wait of 1e-16 s would not move any clock.
_TOLERANCE: Final = 1e-6


class TokenBucket:
    __slots__ = ("_at", "_burst", "_rate", "_tokens")

    def __init__(self, *, rate_per_s: float, burst: float, now: float) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self._rate = rate_per_s
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = now

    @property
    def rate_per_s(self) -> float:
        return self._rate

    @property
    def burst(self) -> float:
        return self._burst

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now

    def delay(self, now: float, *, ahead: int = 0) -> float:
        """Seconds until a token would be available (0: one is there now), after `ahead`
        tokens promised to callers already waiting."""
        self._refill(now)
        missing = 1.0 + ahead - self._tokens
        return 0.0 if missing <= _TOLERANCE else missing / self._rate

    def take(self, now: float) -> None:
        """Take a token; it may go negative: a reservation the caller then waits out."""
        self._refill(now)
        self._tokens -= 1.0

    def drain(self, now: float) -> None:
        """Empty the bucket: the remote side says we are going too fast."""
        self._refill(now)
        self._tokens = min(self._tokens, 0.0)

    def full(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= self._burst - _TOLERANCE
