"""The lifecycle the buffer and the lanes share: their tasks, in one TaskGroup.

Both hold per-customer work that a task serves while there is work to do (a customer's
delivery, a lane's items, the buffer's timer heap). They run once; they accept
work only between `run` starting and closing; they close only after the stream consumer's
shutdown flush (`flushed`), so what it did not wait for stays unacknowledged for the
shard's next owner; then the customers' tasks are cancelled. `on_close` wakes whoever waits
for room, so a waiter sees the close instead of waiting forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any


class OwnedTasks:
    def __init__(
        self, *, not_running: Callable[[], Exception], on_close: Callable[[], None]
    ) -> None:
        self._not_running = not_running
        self._on_close = on_close
        self._tasks: asyncio.TaskGroup | None = None
        self._closed = False
        self._flushed = asyncio.Event()
        # Set once `run` accepts work: start the stream consumer only after it.
        self.running = asyncio.Event()

    async def run(
        self,
        stop: asyncio.Event,
        owned: Callable[[], Iterable[asyncio.Task[None] | None]],
        *,
        closing: Callable[[], None] | None = None,
    ) -> None:
        if self._tasks is not None or self._closed:
            raise RuntimeError("runs once")
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                self.running.set()
                await stop.wait()
                await self._flushed.wait()
                self._closed = True
                self._on_close()
                if closing is not None:
                    closing()
                for task in owned():
                    if task is not None:
                        task.cancel()
        finally:
            self._closed = True
            self._tasks = None
            self._on_close()

    def flushed(self) -> None:
        """The shutdown flush is over: `run` may close."""
        self._flushed.set()

    def check_running(self) -> None:
        if self._tasks is None or self._closed:
            raise self._not_running()

    def start(self, work: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        tasks = self._tasks
        if tasks is None or self._closed:
            work.close()
            raise self._not_running()
        return tasks.create_task(work, name=name)
