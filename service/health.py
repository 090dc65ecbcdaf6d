"""Liveness from heartbeats, readiness from dependency checks.

Liveness means the loops are turning: every long-running loop owns a `Heartbeat` and
beats it each iteration (the event-loop monitor beats one too, so a blocked loop shows
up as stale beats). Readiness means the dependencies answer: each check is a cheap AWS
call run with a timeout; results are cached briefly so a scraping load balancer cannot
turn /readyz into an AWS load test.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)

Check = Callable[[], Awaitable[object]]


@dataclass(slots=True)
class Heartbeat:
    name: str
    stale_after_s: float
    clock: Callable[[], float] = time.monotonic
    last: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.last = self.clock()

    def beat(self) -> None:
        self.last = self.clock()

    def age_s(self) -> float:
        return self.clock() - self.last

    @property
    def stale(self) -> bool:
        return self.age_s() > self.stale_after_s


class Health:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._beats: dict[str, Heartbeat] = {}
        self.loop_lag_s = 0.0

    def heartbeat(self, name: str, *, stale_after_s: float) -> Heartbeat:
        beat = Heartbeat(name, stale_after_s, self._clock)
        self._beats[name] = beat
        return beat

    def report(self) -> tuple[bool, dict[str, object]]:
        beats = {
            name: {"age_s": round(b.age_s(), 3), "stale": b.stale}
            for name, b in sorted(self._beats.items())
        }
        alive = not any(b.stale for b in self._beats.values())
        return alive, {"alive": alive, "loop_lag_s": round(self.loop_lag_s, 4), "loops": beats}

    async def monitor_event_loop(
        self, stop: asyncio.Event, *, interval_s: float = 1.0, stale_after_s: float = 10.0
    ) -> None:
        """Measure how late the loop wakes us; a blocking call shows up here first."""
        beat = self.heartbeat("event_loop", stale_after_s=stale_after_s)
        while not stop.is_set():
            started = self._clock()
            try:
                async with asyncio.timeout(interval_s):
                    await stop.wait()
            except TimeoutError:
                pass
            self.loop_lag_s = max(0.0, self._clock() - started - interval_s)
            beat.beat()


@dataclass(frozen=True, slots=True)
class ReadinessResult:
    ready: bool
    failing: dict[str, str]
    checked: list[str]


class Readiness:
    def __init__(
        self,
        *,
        timeout_s: float = 3.0,
        cache_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._checks: dict[str, Check] = {}
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._clock = clock
        self._cached: tuple[float, ReadinessResult] | None = None
        self._lock = asyncio.Lock()

    def add(self, name: str, check: Check) -> None:
        self._checks[name] = check

    async def check(self) -> ReadinessResult:
        async with self._lock:
            now = self._clock()
            if self._cached is not None and now - self._cached[0] < self._cache_s:
                return self._cached[1]
            names = sorted(self._checks)
            outcomes = await asyncio.gather(*(self._run(n) for n in names))
            failing = {n: why for n, why in zip(names, outcomes, strict=True) if why is not None}
            result = ReadinessResult(ready=not failing, failing=failing, checked=names)
            self._cached = (self._clock(), result)
            if failing:
                log.warning("readiness_failing", failing=sorted(failing))
            return result

    async def _run(self, name: str) -> str | None:
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._checks[name]()
        except TimeoutError:
            return f"no answer within {self._timeout_s:g} s"
        except Exception as exc:  # noqa: BLE001  any failure of a dependency means not ready
            return f"{type(exc).__name__}: {exc}"[:300]
        return None
