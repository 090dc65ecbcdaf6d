"""Composition root: the only place that knows every part.

`run_bridge` opens the AWS clients in one `AsyncExitStack`, builds every component with
explicit collaborators, runs them as tasks of one `TaskGroup` (a crash in any of them
stops the process instead of leaving a zombie), and on SIGTERM/SIGINT shuts down in
order: stop intake, drain within `drain_timeout_s`, then stop the admin server last so
health stays observable while draining.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import structlog
import uvicorn

from service.admin.app import create_admin_app
from service.aws import AwsClientOptions, AwsClients, open_clients
from service.connect_config import ConnectConfigStore, ConnectConfigUnavailableError
from service.health import Health, Readiness
from service.logs import bind_worker
from service.metrics import new_registry
from service.settings import Settings

log = structlog.get_logger(__name__)

Drain = Callable[[], Awaitable[None]]


def version() -> str:
    try:
        return metadata.version("whatsapp-connect-bridge")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class _AdminServer(uvicorn.Server):
    """uvicorn without its own signal handling: the bridge owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    @property
    def bound_port(self) -> int | None:
        for server in getattr(self, "servers", []):
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return None


@dataclass(slots=True)
class BridgeRuntime:
    """What a running bridge exposes to its host (the CLI, or a test)."""

    settings: Settings
    worker_id: str
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    admin_port: int | None = None
    started_at: float = field(default_factory=time.time)


def aws_options(settings: Settings) -> AwsClientOptions:
    return AwsClientOptions(
        region=settings.aws_region,
        connect_timeout_s=settings.aws_connect_timeout_s,
        read_timeout_s=settings.aws_read_timeout_s,
        max_attempts=settings.aws_max_attempts,
        retry_mode=settings.aws_retry_mode,
        max_pool_connections=settings.aws_max_pool_connections,
    )


def _install_signal_handlers(stop: asyncio.Event) -> Callable[[], None]:
    loop = asyncio.get_running_loop()

    def _on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning("shutdown_signal_repeated", signal=signal.Signals(signum).name)
            return
        log.info("shutdown_requested", signal=signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, sig)

    def _remove() -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)

    return _remove


async def run_bridge(
    settings: Settings,
    *,
    runtime: BridgeRuntime | None = None,
    install_signals: bool = True,
) -> None:
    worker_id = settings.task_id or socket.gethostname()
    runtime = runtime or BridgeRuntime(settings=settings, worker_id=worker_id)
    bind_worker({"worker": worker_id})
    names = settings.resource_names()
    async with AsyncExitStack() as stack:
        if install_signals:
            stack.callback(_install_signal_handlers(runtime.stop))
        clients = await open_clients(stack, aws_options(settings))
        registry = new_registry(worker_id=worker_id, version=version())
        health = Health()
        readiness = Readiness(timeout_s=settings.readiness_timeout_s)
        config = ConnectConfigStore(
            ssm=clients.ssm,
            parameter=names.connect_config_parameter,
            refresh_s=settings.connect_config_refresh_s,
        )
        _add_readiness_checks(readiness, clients, settings, config)
        drains: list[Drain] = []

        def status() -> dict[str, Any]:
            try:
                connect: dict[str, Any] | None = config.current().model_dump()
            except ConnectConfigUnavailableError:
                connect = None
            return {
                "worker_id": worker_id,
                "version": version(),
                "started_at": datetime.fromtimestamp(runtime.started_at, UTC).isoformat(),
                "uptime_s": round(time.time() - runtime.started_at, 1),
                "connect_config": connect,
                "connect_config_version": config.version,
                "connect_config_error": config.last_error,
                "health": health.report()[1],
                "resources": asdict(names),
            }

        admin = create_admin_app(
            health=health,
            readiness=readiness,
            registry=registry,
            admin_token=settings.admin_token,
            status=status,
            version=version(),
        )
        server = _AdminServer(
            uvicorn.Config(
                admin,
                host=settings.admin_host,
                port=settings.admin_port,
                log_config=None,
                lifespan="off",
                access_log=False,
                timeout_graceful_shutdown=2,
            )
        )
        with contextlib.suppress(ConnectConfigUnavailableError):
            await config.refresh()
        log.info("bridge_starting", admin_port=settings.admin_port, version=version())
        async with asyncio.TaskGroup() as tasks:
            serving = tasks.create_task(server.serve(), name="admin-api")
            tasks.create_task(health.monitor_event_loop(runtime.stop), name="loop-monitor")
            tasks.create_task(config.run(runtime.stop), name="connect-config")
            await _wait_started(server, serving)
            runtime.admin_port = server.bound_port
            runtime.ready.set()
            log.info("bridge_started", admin_port=runtime.admin_port)
            await runtime.stop.wait()
            await _drain(drains, settings.drain_timeout_s)
            server.should_exit = True
        log.info("bridge_stopped", uptime_s=round(time.time() - runtime.started_at, 1))


async def _wait_started(server: _AdminServer, serving: asyncio.Task[None]) -> None:
    while not server.started:
        if serving.done():
            # uvicorn exits (instead of raising) when it cannot bind; surface that as a crash.
            serving.result()
            raise RuntimeError("admin API stopped before it started (is the port in use?)")
        await asyncio.sleep(0.02)


async def _drain(drains: list[Drain], deadline_s: float) -> None:
    started = time.monotonic()
    try:
        async with asyncio.timeout(deadline_s):
            for drain in drains:
                await drain()
    except TimeoutError:
        log.warning("drain_deadline_exceeded", deadline_s=deadline_s)
    log.info("drain_finished", took_s=round(time.monotonic() - started, 3))


def _add_readiness_checks(
    readiness: Readiness, clients: AwsClients, settings: Settings, config: ConnectConfigStore
) -> None:
    names = settings.resource_names()

    async def dynamodb() -> None:
        for table in (names.raw_table, names.leases_table):
            await clients.dynamodb.describe_table(TableName=table)

    async def sqs() -> None:
        for queue in (names.inbound_queue, names.outbound_queue):
            await clients.sqs.get_queue_url(QueueName=queue)

    async def sns() -> None:
        await clients.sns.get_topic_attributes(TopicArn=settings.outbound_topic_arn)

    readiness.add("dynamodb", dynamodb)
    readiness.add("sqs", sqs)
    readiness.add("sns", sns)
    readiness.add("connect_config", config.check)
