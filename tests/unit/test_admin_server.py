"""The admin API's server loop (`service.app._AdminServer`): uvicorn, woken once a second.

Why: idle, uvicorn's own loop (a look at `should_exit` every 0.1 s) was ten of the task's
~36 wakeups a second (issue 14: quiet when idle). The loop must still stop at once.
"""

import asyncio
import time

import uvicorn
from fastapi import FastAPI

from service.app import _AdminServer


async def test_the_loop_looks_once_a_second_and_stops_as_soon_as_it_is_told() -> None:
    server = _AdminServer(uvicorn.Config(FastAPI(), lifespan="off", log_config=None))
    ticks: list[int] = []

    async def on_tick(counter: int) -> bool:
        ticks.append(counter)
        return server.should_exit

    server.on_tick = on_tick  # type: ignore[method-assign]
    loop = asyncio.create_task(server.main_loop())
    await asyncio.sleep(1.5)
    assert ticks == [0, 10]  # uvicorn refreshes its Date header on every tenth count

    told = time.monotonic()
    server.should_exit = True
    await asyncio.wait_for(loop, timeout=1.0)
    assert time.monotonic() - told < 0.1
    assert server.should_exit
