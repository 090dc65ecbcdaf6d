"""The one fake clock of the test suite: time moves when the test says so.

It satisfies `service.clock.Clock`. By default time stands still until `advance()`, and
`sleep`/`wait` end when the advanced time passes their deadline, so a test runs a 5 s
quiet window or a lease expiry in microseconds. With `auto_advance=True`, a `sleep` (or a
`wait` whose event is not set) moves time forward by itself (for code under test that
sleeps and expects time to pass, such as a rate limiter or a backoff loop); every sleep is
recorded in `sleeps`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from service.clock import SystemClock

WALL_START = 1_772_000_000.0  # 2026-02-25, a wall time for what leaves the process


class FakeClock:
    def __init__(
        self,
        start: float = 1_000.0,
        *,
        wall_start: float = WALL_START,
        auto_advance: bool = False,
    ) -> None:
        self._start = start
        self._wall_start = wall_start
        self._now = start
        self._auto = auto_advance
        self._timers: list[tuple[float, asyncio.Future[None]]] = []
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._wall_start + (self._now - self._start)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self._auto:
            self._now += max(0.0, seconds)
            await asyncio.sleep(0)
            return
        await self.wait(asyncio.Event(), self._now + seconds)

    async def wait(self, event: asyncio.Event, deadline: float) -> bool:
        if event.is_set():
            return True
        if deadline <= self._now:
            return False
        if self._auto:
            # Time moves by itself: the wait lasts until its deadline unless the event is
            # set by what runs in between (recorded like a sleep).
            self.sleeps.append(deadline - self._now)
            self._now = deadline
            await asyncio.sleep(0)
            return event.is_set()
        timer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (deadline, timer)
        self._timers.append(entry)
        waiter = asyncio.ensure_future(event.wait())
        either: set[asyncio.Future[Any]] = {timer, waiter}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._timers.remove(entry)
            timer.cancel()
            waiter.cancel()
            await asyncio.gather(waiter, return_exceptions=True)
        return event.is_set()

    async def advance(self, seconds: float) -> None:
        """Move time forward, end the waits whose deadline passed, let their tasks run."""
        self._now += seconds
        for deadline, timer in list(self._timers):
            if deadline <= self._now and not timer.done():
                timer.set_result(None)
        await settle()

    def set(self, seconds_since_start: float) -> None:
        """Jump to an absolute reading, without running anything (for synchronous code)."""
        self._now = self._start + seconds_since_start

    def tick(self, seconds: float) -> None:
        """Move time forward without running anything (for code that only reads time)."""
        self._now += seconds


async def settle() -> None:
    """Let every task that can run, run (no I/O here: only ready callbacks)."""
    for _ in range(100):
        await asyncio.sleep(0)


class SkewedClock(SystemClock):
    """Real time, but a wall clock `skew_s` off: another host's idea of the time."""

    def __init__(self, skew_s: float) -> None:
        self._skew_s = skew_s

    def time(self) -> float:
        return super().time() + self._skew_s
