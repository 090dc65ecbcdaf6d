"""The simulator's ASGI app, and ways to serve it (a coroutine for the CLI, a thread for tests)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from typing import Final
from urllib.parse import parse_qs

import aiohttp
import uvicorn
from aiobotocore.config import AioConfig
from fastapi import FastAPI, Request
from fastapi.responses import Response

from service.aws import new_session
from service.aws_tls import SharedTlsSession
from service.local import constants
from service.local.sim import playground
from service.local.sim.changes import BumpOnWrite
from service.local.sim.dispatch import AwsDispatcher
from service.local.sim.errors import SandboxError
from service.local.sim.protocol import HttpRequest, ServiceCatalog
from service.local.sim.sandbox import router, sandbox_error_response
from service.local.sim.settings import SimSettings
from service.local.sim.world import SERVED_OPERATIONS, Simulator

_AWS_METHODS: Final = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
_STARTUP_TIMEOUT_S: Final = 10.0


async def _aws_endpoint(request: Request) -> Response:
    dispatcher: AwsDispatcher = request.app.state.dispatcher
    raw_path = request.scope.get("raw_path")
    answer = await dispatcher.handle(
        HttpRequest(
            method=request.method,
            raw_path=raw_path.decode("latin-1") if raw_path else request.url.path,
            query=parse_qs(request.url.query, keep_blank_values=True),
            headers={key.lower(): value for key, value in request.headers.items()},
            body=await request.body(),
        )
    )
    return Response(answer.body, status_code=answer.status, headers=answer.headers)


async def _sandbox_error(_request: Request, error: Exception) -> Response:
    if not isinstance(error, SandboxError):  # pragma: no cover - registered for SandboxError only
        raise error
    return sandbox_error_response(error)


def create_sim_app(settings: SimSettings) -> FastAPI:
    catalog = ServiceCatalog(SERVED_OPERATIONS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sandbox-only: the embedded AWS accepts any key, so static dummy credentials keep
        # the simulator independent of whatever AWS profile the developer has.
        config = AioConfig(
            connect_timeout=5,
            read_timeout=30,
            retries={"mode": "standard", "total_max_attempts": 3},
            s3={"addressing_style": "path"},
            http_session_cls=SharedTlsSession,
        )
        session = new_session()
        region, endpoint = settings.region, settings.aws_endpoint_url
        key, secret = constants.DUMMY_ACCESS_KEY, constants.DUMMY_SECRET_KEY
        async with AsyncExitStack() as stack:
            sns = await stack.enter_async_context(
                session.create_client(
                    "sns",
                    region_name=region,
                    endpoint_url=endpoint,
                    aws_access_key_id=key,
                    aws_secret_access_key=secret,
                    config=config,
                )
            )
            s3 = await stack.enter_async_context(
                session.create_client(
                    "s3",
                    region_name=region,
                    endpoint_url=endpoint,
                    aws_access_key_id=key,
                    aws_secret_access_key=secret,
                    config=config,
                )
            )
            app.state.http = await stack.enter_async_context(aiohttp.ClientSession())
            sim = Simulator(settings=settings, sns=sns, s3=s3)
            app.state.sim = sim
            app.state.dispatcher = AwsDispatcher(
                catalog=catalog, handlers=sim.handlers(), faults=sim.faults
            )
            try:
                yield
            finally:
                await sim.aclose()

    app = FastAPI(
        title="Connect / WhatsApp simulator",
        lifespan=lifespan,
        docs_url="/sandbox/docs",
        openapi_url="/sandbox/openapi.json",
        redoc_url=None,
    )
    app.include_router(playground.router)
    app.include_router(router)
    app.add_middleware(BumpOnWrite, state=app.state)
    app.add_exception_handler(SandboxError, _sandbox_error)
    # Last: everything the sandbox routes do not claim is an AWS request.
    app.add_route("/{path:path}", _aws_endpoint, methods=_AWS_METHODS, include_in_schema=False)
    return app


def _server(settings: SimSettings) -> uvicorn.Server:
    config = uvicorn.Config(
        create_sim_app(settings),
        host=settings.sim_host,
        port=settings.sim_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        # The playground's event streams are long requests: a stop waits this long for them.
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config)


async def run_sim(settings: SimSettings, *, sockets: list[socket.socket] | None = None) -> None:
    """Serve until cancelled; cancellation shuts the server down cleanly, then propagates."""
    server = _server(settings)
    serving = asyncio.ensure_future(server.serve(sockets=sockets))
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True
        await serving
        raise


@contextmanager
def threaded_sim(settings: SimSettings) -> Iterator[str]:
    """Serve in a background thread (its own event loop); yields the base URL.

    Port 0 in the settings picks a free port; `sim_url` then follows the bound port unless
    the settings set one explicitly.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.sim_host, settings.sim_port))
    port = sock.getsockname()[1]
    bound = settings.model_copy(update={"sim_port": port})
    server = _server(bound)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])), name="sim", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.02)
        yield bound.public_url
    finally:
        server.should_exit = True
        thread.join(timeout=_STARTUP_TIMEOUT_S)
        sock.close()
