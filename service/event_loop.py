"""Which event loop runs the bridge.

Under load a third of the bridge's CPU went to the event loop and its socket transports
(profile: asyncio's transports and selector ~20 %), work uvloop (libuv, in C) does for
less. uvloop is a dependency on Linux and macOS; where it cannot be imported the standard
loop runs, so the bridge still starts anywhere Python does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")

Choice = Literal["uvloop", "asyncio"]


def loop_factory(choice: Choice) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for `asyncio.Runner` (None: the standard loop)."""
    if choice == "asyncio":
        return None
    try:
        import uvloop  # noqa: PLC0415  optional where it cannot be installed
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], choice: Choice) -> T:
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)


def loop_name() -> str:
    """The running loop's kind, for the start-up log line and /admin/status."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.startswith("uvloop") else "asyncio"
