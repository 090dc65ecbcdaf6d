"""The periodic look at held messages: deliver those whose window reopened, expire the rest.

The customer's reply releases the agent's held messages at once (`flows.deliver` calls
back), and so does the agent's next message; this sweep is what makes that true after a
restart, an ownership move or a failed release, and what reports the held messages the
customer never came back for. Each task sweeps every session that holds anything (few do):
the sends are claimed, so two tasks sweeping the same chat send nothing twice, and each
walk stops at the first message it cannot send, so none overtakes another.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Protocol

import structlog

if TYPE_CHECKING:
    from service.bridge.adapters.sessions import Session

log = structlog.get_logger(__name__)


class HoldingSessions(Protocol):
    async def with_held(self) -> list[Session]: ...


class Releaser(Protocol):
    async def release_held(self, customer_key: str) -> bool: ...


class HeldSweep:
    def __init__(
        self,
        *,
        sessions: HoldingSessions,
        replies: Releaser,
        interval_s: float,
    ) -> None:
        self._sessions = sessions
        self._replies = replies
        self._interval_s = interval_s

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.sweep()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval_s)

    async def sweep(self) -> int:
        """One pass; how many chats still hold messages afterwards."""
        try:
            sessions = await self._sessions.with_held()
        except Exception as exc:  # noqa: BLE001  the next pass tries again
            log.warning("held_sweep_failed", error=type(exc).__name__)
            return -1
        waiting = 0
        for session in sessions:
            try:
                if not await self._replies.release_held(session.customer_key):
                    waiting += 1
            except Exception as exc:  # noqa: BLE001  one chat's trouble never stops the rest
                waiting += 1
                log.info("held_release_deferred", error=type(exc).__name__)
        if sessions:
            log.info("held_swept", chats=len(sessions), waiting=waiting)
        return waiting
