"""The service's one notion of time.

Every component that measures, waits or schedules takes a `Clock`, so tests can run a
quiet window, a lease expiry or a backoff without waiting for it (`tests/support/clock`
has the one fake). Two readings: `monotonic()` for intervals and deadlines (never jumps),
`time()` for wall-clock instants that leave the process (TTLs, WhatsApp and Connect
timestamps).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean anything."""
        ...

    def time(self) -> float:
        """Seconds since the epoch (wall clock)."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    async def wait(self, event: asyncio.Event, deadline: float) -> bool:
        """Until `event` is set (True) or `monotonic()` reaches `deadline` (False)."""
        ...


class SystemClock:
    """The real clocks: the event loop's monotonic time and the system's wall time."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def wait(self, event: asyncio.Event, deadline: float) -> bool:
        if event.is_set():
            return True
        delay = deadline - self.monotonic()
        if delay <= 0:
            return False
        try:
            async with asyncio.timeout(delay):
                await event.wait()
        except TimeoutError:
            return False
        return True


SYSTEM_CLOCK = SystemClock()
