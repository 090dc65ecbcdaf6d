"""The admin HTTP surface: health, readiness, metrics, and token-guarded inspection.

Built by a factory that receives every collaborator explicitly; the composition root
serves it with uvicorn as one task beside the consumers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.admin.auth import require_token
from service.admin.console import add_console
from service.admin.errors import UNAUTHORIZED
from service.health import Health, Readiness


def create_admin_app(
    *,
    health: Health,
    readiness: Readiness,
    registry: CollectorRegistry,
    admin_token: SecretStr,
    status: Callable[[], dict[str, Any]],
    routers: Sequence[APIRouter] = (),
    version: str = "0",
) -> FastAPI:
    app = FastAPI(
        title="WhatsApp ⇄ Amazon Connect bridge — admin API",
        version=version,
        description="Health, readiness and metrics are open; /admin/* needs the admin "
        "token as a bearer token.",
    )

    @app.get(
        "/healthz",
        tags=["health"],
        summary="Liveness: loops and consumers are turning",
        responses={503: {"description": "A loop stopped turning", "model": dict[str, Any]}},
    )
    async def healthz() -> JSONResponse:
        alive, body = health.report()
        return JSONResponse(body, status_code=200 if alive else 503)

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness: every dependency answers",
        responses={503: {"description": "A dependency does not answer", "model": dict[str, Any]}},
    )
    async def readyz() -> JSONResponse:
        result = readiness.current()
        body = {
            "ready": result.ready,
            "checked": result.checked,
            "failing": result.failing,
            "probed_s_ago": round(result.age_s, 1),
        }
        return JSONResponse(body, status_code=200 if result.ready else 503)

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    guard = [Depends(require_token(admin_token))]
    admin = APIRouter(prefix="/admin", dependencies=guard, responses=UNAUTHORIZED)

    @admin.get("/status", tags=["admin"], summary="Worker identity, uptime and configuration")
    async def admin_status() -> dict[str, Any]:
        return status()

    app.include_router(admin)
    add_console(app)
    for router in routers:
        app.include_router(router, prefix="/admin", dependencies=guard, responses=UNAUTHORIZED)
    app.add_middleware(AllowHeader)
    return app


class AllowHeader:
    """A 405 names every method the path has, not just the first route's.

    Starlette answers a wrong method with the methods of the first route whose path
    matches, so a path served by two routes (GET and DELETE of a session) would claim to
    allow only one of them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        router: Starlette = scope["app"]

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:  # noqa: PLR2004
                methods = _methods_of(router, scope)
                headers = [(k, v) for k, v in message["headers"] if k.lower() != b"allow"]
                headers.append((b"allow", ", ".join(sorted(methods)).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_allow)


def _methods_of(app: Starlette, scope: Scope) -> set[str]:
    methods: set[str] = set()
    for route in app.routes:
        match, _ = route.matches({**scope, "method": "GET"})
        if match is not Match.NONE and isinstance(route, APIRoute) and route.methods:
            methods |= route.methods
    return methods
