"""Waiting for what happens elsewhere (another task, process, or the sandbox), bounded.

One helper for the whole suite: poll a check, sync or async, until it returns something
truthy, and return that; fail with the last value seen when the time is up.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest


async def eventually(
    check: Callable[[], Any | Awaitable[Any]],
    *,
    timeout_s: float = 30.0,
    interval_s: float = 0.02,
    message: str = "",
) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met in {timeout_s} s: {message or repr(last)}")
        await asyncio.sleep(interval_s)
