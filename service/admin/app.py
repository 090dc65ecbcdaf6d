"""The admin HTTP surface: health, readiness, metrics, and token-guarded inspection.

Built by a factory that receives every collaborator explicitly; the composition root
serves it with uvicorn as one task beside the consumers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import SecretStr

from service.admin.auth import require_token
from service.admin.console import add_console
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

    @app.get("/healthz", tags=["health"], summary="Liveness: loops and consumers are turning")
    async def healthz() -> JSONResponse:
        alive, body = health.report()
        return JSONResponse(body, status_code=200 if alive else 503)

    @app.get("/readyz", tags=["health"], summary="Readiness: every dependency answers")
    async def readyz() -> JSONResponse:
        result = readiness.current()
        body = {
            "ready": result.ready,
            "checked": result.checked,
            "failing": result.failing,
            "probed_s_ago": round(result.age_s, 1),
        }
        return JSONResponse(body, status_code=200 if result.ready else 503)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    admin = APIRouter(prefix="/admin", dependencies=[Depends(require_token(admin_token))])

    @admin.get("/status", tags=["admin"], summary="Worker identity, uptime and configuration")
    async def admin_status() -> dict[str, Any]:
        return status()

    app.include_router(admin)
    add_console(app)
    for router in routers:
        app.include_router(
            router, prefix="/admin", dependencies=[Depends(require_token(admin_token))]
        )
    return app
