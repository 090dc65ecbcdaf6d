"""The simulator's one notion of time: wall time plus an offset tests can advance.

Chat durations, the 5-minute connect window, token and URL expiry and message timestamps
all read this clock, so `POST /sandbox/clock` moves them together without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

_NANOS_PER_S: Final = 1_000_000_000


class Clock:
    def __init__(self, *, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._offset = 0.0

    def now(self) -> float:
        return self._wall() + self._offset

    @property
    def offset_s(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the simulated clock never goes back")
        self._offset += seconds

    def reset(self) -> None:
        self._offset = 0.0


def iso_ms(epoch_s: float) -> str:
    """ISO-8601 UTC with milliseconds, the format of Connect's `AbsoluteTime`."""
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def rfc3339_ns(epoch_s: float) -> str:
    """RFC 3339 UTC with nanoseconds, the format of EUM's `message_timestamp`."""
    seconds = int(epoch_s)
    nanos = round((epoch_s - seconds) * 1e9)
    if nanos >= _NANOS_PER_S:  # rounding of a float fraction can carry into the next second
        seconds, nanos = seconds + 1, nanos - _NANOS_PER_S
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanos:09d}Z"
