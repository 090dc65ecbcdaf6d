"""Run the real bridge (`run_bridge`) inside the test's event loop, on port 0."""

from __future__ import annotations

import asyncio
from types import TracebackType

import httpx

from service.app import BridgeRuntime, run_bridge
from service.settings import Settings

TOKEN = "test-admin-token-0123456789"


class RunningBridge:
    def __init__(self, settings: Settings) -> None:
        self.runtime = BridgeRuntime(settings=settings, worker_id=settings.task_id or "test")
        self.task: asyncio.Task[None] | None = None
        self.http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> httpx.AsyncClient:
        self.task = asyncio.create_task(
            run_bridge(self.runtime.settings, runtime=self.runtime, install_signals=False)
        )
        ready = asyncio.create_task(self.runtime.ready.wait())
        done, _ = await asyncio.wait(
            {self.task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED
        )
        if self.task in done:
            ready.cancel()
            self.task.result()  # raises what stopped the bridge
        if ready not in done:
            ready.cancel()
            raise TimeoutError("bridge not ready in 30 s")
        self.http = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.runtime.admin_port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        return self.http

    async def stop(self) -> None:
        self.runtime.stop.set()
        assert self.task is not None
        async with asyncio.timeout(30):
            await self.task

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.http is not None:
            await self.http.aclose()
        if self.task is not None and not self.task.done():
            await self.stop()
