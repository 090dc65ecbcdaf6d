"""Liveness from heartbeats, readiness from dependency checks.

Liveness means the loops are turning: every long-running loop owns a `Heartbeat` and
beats it each iteration (the event-loop monitor beats one too, so a blocked loop shows
up as stale beats). Readiness means the dependencies answer: each check is a cheap AWS
call run with a timeout by a background probe, and /readyz answers from its latest
result, so a scraping load balancer can neither turn /readyz into an AWS load test nor
wait on a frozen dependency. Liveness deliberately ignores AWS: restarting a task does
not bring an AWS outage back, it only adds churn; readiness says the task cannot work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from service.clock import SYSTEM_CLOCK, Clock

log = structlog.get_logger(__name__)

Check = Callable[[], Awaitable[object]]


@dataclass(slots=True)
class Heartbeat:
    name: str
    stale_after_s: float
    clock: Clock = SYSTEM_CLOCK
    last: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.last = self.clock.monotonic()

    def beat(self) -> None:
        self.last = self.clock.monotonic()

    def age_s(self) -> float:
        return self.clock.monotonic() - self.last

    @property
    def stale(self) -> bool:
        return self.age_s() > self.stale_after_s


class Health:
    def __init__(self, *, clock: Clock = SYSTEM_CLOCK) -> None:
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
            started = self._clock.monotonic()
            try:
                async with asyncio.timeout(interval_s):
                    await stop.wait()
            except TimeoutError:
                pass
            self.loop_lag_s = max(0.0, self._clock.monotonic() - started - interval_s)
            beat.beat()


@dataclass(frozen=True, slots=True)
class ReadinessResult:
    ready: bool
    failing: dict[str, str]
    checked: list[str]
    age_s: float = 0.0  # since the probe that produced it finished


class Readiness:
    """Dependency checks probed in the background, answered from the latest probe.

    A probe runs every check concurrently, each bounded by `timeout_s`, so a frozen
    dependency shows up as "no answer" within one interval plus the timeout, and /readyz
    itself always answers at once: a load balancer's short health-check timeout must not
    turn a slow AWS into a probe that never answers (that reads as "fine" to some). A
    result older than `stale_after_s` (the prober itself stalled) counts as not ready.
    """

    def __init__(
        self,
        *,
        timeout_s: float = 3.0,
        interval_s: float = 15.0,
        retry_s: float = 1.0,
        stale_after_s: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._checks: dict[str, Check] = {}
        self._timeout_s = timeout_s
        self._interval_s = interval_s
        self._retry_s = retry_s
        self._stale_after_s = stale_after_s or 3 * (interval_s + timeout_s)
        self._clock = clock
        self._latest: tuple[float, ReadinessResult] | None = None
        self._lock = asyncio.Lock()

    def add(self, name: str, check: Check) -> None:
        self._checks[name] = check

    async def run(self, stop: asyncio.Event) -> None:
        """Probe every `interval_s` until `stop` is set; every `retry_s` while not ready.

        Each probe is a handful of paid AWS calls, so a ready task asks seldom; a task that
        is not ready asks often, so it is back in service soon after its dependencies are.
        """
        while not stop.is_set():
            result = await self.probe()
            pause = self._interval_s if result.ready else min(self._interval_s, self._retry_s)
            await self._clock.wait(stop, self._clock.monotonic() + pause)

    def current(self) -> ReadinessResult:
        names = sorted(self._checks)
        if self._latest is None:
            return ReadinessResult(ready=False, failing={"probe": "not probed yet"}, checked=names)
        at, result = self._latest
        age = max(0.0, self._clock.monotonic() - at)
        if age > self._stale_after_s:
            failing = {**result.failing, "probe": f"last probe {age:.0f} s ago"}
            return ReadinessResult(ready=False, failing=failing, checked=names, age_s=age)
        return ReadinessResult(result.ready, result.failing, result.checked, age_s=age)

    async def probe(self) -> ReadinessResult:
        """Run every check now (bounded by the timeout) and remember the result."""
        async with self._lock:
            names = sorted(self._checks)
            outcomes = await asyncio.gather(*(self._run(n) for n in names))
            failing = {n: why for n, why in zip(names, outcomes, strict=True) if why is not None}
            result = ReadinessResult(ready=not failing, failing=failing, checked=names)
            previous = None if self._latest is None else self._latest[1]
            self._latest = (self._clock.monotonic(), result)
            if failing and (previous is None or previous.failing.keys() != failing.keys()):
                log.warning("readiness_failing", failing=sorted(failing))
            elif not failing and previous is not None and not previous.ready:
                log.info("readiness_restored")
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
