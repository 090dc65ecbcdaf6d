"""A version number of the simulated world, for pages that follow it live.

Everything in the world changes through a request that is not a GET (an AWS call from the
bridge, a sandbox action), so an ASGI middleware bumps the version after each one, and the
sandbox's event stream tells its listeners; they then read the records they show. No
actor has to remember to report its changes.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

_READS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


class Changes:
    def __init__(self) -> None:
        self.version = 0
        self._changed = asyncio.Event()

    def bump(self) -> None:
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def after(self, version: int, *, timeout_s: float) -> int:
        """The version once it differs from `version`, or as it is after `timeout_s`."""
        if self.version == version:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._changed.wait()
        return self.version


class BumpOnWrite:
    """ASGI middleware: after each request that may have changed the world, bump it."""

    def __init__(self, app: ASGIApp, *, state: State) -> None:
        self._app = app
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._app(scope, receive, send)
        finally:
            if scope["type"] == "http" and scope["method"] not in _READS:
                sim = getattr(self._state, "sim", None)
                if sim is not None:
                    sim.changes.bump()
