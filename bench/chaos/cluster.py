"""The sandbox as separate processes, with a handle on each one to signal it.

Built from the `make dev` supervisor's own parts (`service.local.sandbox`), so a campaign
kills, stops and restarts exactly the processes a developer runs: the embedded AWS, the
simulator and N bridge workers, each with its own admin port and task id. Every process
writes its output to `<work_dir>/logs/<name>.log`.

A worker started again after it died gets a new task id (`dev-worker-1.r1`), as ECS gives
a replacement task a new identity; its port stays the same. Like ECS, `supervise` replaces
a worker that exits on its own (a crash), and counts it: the campaign then measures what a
crash costs in a real deployment instead of stopping at the first one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

from service.local.ports import free_loopback_ports
from service.local.sandbox import (
    LOOPBACK,
    Child,
    Sandbox,
    SandboxError,
    SandboxOptions,
    sandbox_environment,
    start_embedded_aws,
    start_simulator,
    start_worker,
    stop_children,
    wait_http,
)

NAME_PREFIX = "chaos"
# What werkzeug writes for each request the embedded AWS failed with a 500 (a moto bug, not
# a fault the campaign injected, but it shapes the numbers, so it is counted).
_SERVER_ERROR_LINE = b"Error on request"
READY_TIMEOUT_S = 90.0
_SUPERVISE_INTERVAL_S = 1.0


class ClusterError(Exception):
    """A process of the sandbox did not start or stop as asked."""


class Cluster:
    def __init__(self, *, workers: int, work_dir: Path, worker_env: Mapping[str, str]) -> None:
        aws_port, sim_port, *admin_ports = free_loopback_ports(2 + workers)
        self.token = secrets.token_urlsafe(24)
        self._sandbox = Sandbox(
            SandboxOptions(
                workers=workers,
                aws_port=aws_port,
                sim_port=sim_port,
                admin_port=admin_ports[0],
                admin_ports=tuple(admin_ports),
                state_dir=work_dir,
                name_prefix=NAME_PREFIX,
                ready_timeout_s=READY_TIMEOUT_S,
                worker_env=dict(worker_env),
                log_dir=work_dir / "logs",
            )
        )
        self._sandbox.env = sandbox_environment(self._sandbox, self.token)
        self._aws: Child | None = None
        self._sim: Child | None = None
        self._workers: list[Child] = []
        self._restarts = [0] * workers
        # Exits the harness caused; any other exit is a crash worth reporting.
        self._expected_exits: set[int] = set()
        self._crashes: list[str] = []

    async def __aenter__(self) -> Self:
        deadline = time.monotonic() + READY_TIMEOUT_S
        try:
            self._aws = await start_embedded_aws(self._sandbox, deadline)
            self._sim = await start_simulator(self._sandbox, deadline)
            self._workers = [
                await start_worker(self._sandbox, index, wait_until=None)
                for index in range(self.workers)
            ]
            for index in range(self.workers):
                await self.wait_ready(index, deadline)
        except BaseException:
            await stop_children(self._sandbox)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.resume_aws()  # never leave a stopped process behind
        await stop_children(self._sandbox)

    # ------------------------------------------------------------ addresses

    @property
    def workers(self) -> int:
        return self._sandbox.options.workers

    @property
    def sim_url(self) -> str:
        return self._sandbox.sim_url

    @property
    def env(self) -> dict[str, str]:
        """The sandbox's environment (endpoints, names, ARNs), as `.sandbox/env` holds it."""
        return dict(self._sandbox.env)

    def admin_url(self, index: int) -> str:
        return f"http://{LOOPBACK}:{self._sandbox.worker_ports()[index]}"

    def worker_pid(self, index: int) -> int:
        return self._workers[index].process.pid

    @property
    def aws_pid(self) -> int:
        assert self._aws is not None
        return self._aws.process.pid

    @property
    def sim_pid(self) -> int:
        assert self._sim is not None
        return self._sim.process.pid

    # ------------------------------------------------------------ workers

    async def wait_ready(self, index: int, deadline: float) -> None:
        await wait_http(self._workers[index], f"{self.admin_url(index)}/readyz", deadline)

    async def signal_worker(self, index: int, sig: signal.Signals, *, wait_s: float) -> int | None:
        """Send `sig` to worker `index`; its exit code, or None if still alive after `wait_s`."""
        process = self._workers[index].process
        if process.returncode is not None:
            raise ClusterError(f"{self._workers[index].name} was already dead before {sig.name}")
        self._expected_exits.add(process.pid)
        process.send_signal(sig)
        try:
            async with asyncio.timeout(wait_s):
                return await process.wait()
        except TimeoutError:
            return None

    async def kill_worker(self, index: int) -> None:
        process = self._workers[index].process
        self._expected_exits.add(process.pid)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()

    async def restart_worker(self, index: int, *, wait: bool = True) -> None:
        """Start worker `index` again (new task id); with `wait`, until it is ready.

        A replacement that crashes while starting is left to `supervise` (a crash like any
        other); one that neither crashes nor gets ready in time is the harness's failure.
        """
        if self._workers[index].process.returncode is None:
            raise ClusterError(f"{self._workers[index].name} is still running")
        self._restarts[index] += 1
        task_id = f"dev-worker-{index + 1}.r{self._restarts[index]}"
        self._workers[index] = await start_worker(
            self._sandbox, index, wait_until=None, task_id=task_id
        )
        if not wait:
            return
        try:
            await self.wait_ready(index, time.monotonic() + READY_TIMEOUT_S)
        except SandboxError:
            if self._workers[index].process.returncode is None:
                raise

    # ------------------------------------------------------------ the embedded AWS

    def pause_aws(self) -> None:
        assert self._aws is not None
        os.kill(self._aws.process.pid, signal.SIGSTOP)

    def resume_aws(self) -> None:
        if self._aws is not None and self._aws.process.returncode is None:
            os.kill(self._aws.process.pid, signal.SIGCONT)

    # ------------------------------------------------------------ health

    def embedded_aws_errors(self) -> int:
        """Requests the embedded AWS answered with an internal error so far."""
        log_dir = self._sandbox.options.log_dir
        assert log_dir is not None
        path = log_dir / "embedded-aws.log"
        return path.read_bytes().count(_SERVER_ERROR_LINE) if path.exists() else 0

    async def supervise(self) -> None:
        """Until cancelled: restart any worker that exited without the harness asking."""
        while True:
            for index, child in enumerate(self._workers):
                code = child.process.returncode
                if code is None or child.process.pid in self._expected_exits:
                    continue
                self._expected_exits.add(child.process.pid)  # counted once, below
                self._crashes.append(f"{child.name} exit {code}")
                # Not waiting: a replacement that crashes again is seen on the next pass.
                await self.restart_worker(index, wait=False)
            await asyncio.sleep(_SUPERVISE_INTERVAL_S)

    def worker_log_events(self, event: str) -> Counter[str]:
        """How often the workers logged `event` (JSON lines), by its `reason` field."""
        log_dir = self._sandbox.options.log_dir
        assert log_dir is not None
        found: Counter[str] = Counter()
        needle = f'"event": "{event}"'
        for path in sorted(log_dir.glob("bridge-*.log")):
            for text in path.read_text(errors="replace").splitlines():
                if needle not in text:
                    continue
                try:
                    found[str(json.loads(text).get("reason", "-"))] += 1
                except ValueError:
                    found["-"] += 1
        return found

    def crashes(self) -> list[str]:
        """Processes that exited without the harness asking (name and exit code).

        Workers `supervise` restarted are in it, and so is any process dead right now:
        the embedded AWS or the simulator dying is a crash too.
        """
        found = list(self._crashes)
        for child in self._sandbox.children:
            code = child.process.returncode
            if code is not None and child.process.pid not in self._expected_exits:
                found.append(f"{child.name} exit {code}")
        return found
