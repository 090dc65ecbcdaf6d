"""The playground: one page that plays the customer's phone and the agent's desk.

Served by the simulator at `/`, with its script and style under `/sandbox/static/`. The
page follows the world live through `/sandbox/events` (server-sent events: a version
number after every change) and reads what it shows from `/sandbox/playground/state`.
`/sandbox/bridge/buffers` relays what the bridge workers' buffers hold (their admin API,
customers masked), so the clock panel shows the bridge's own countdown, not a guess.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import aiohttp
import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, StreamingResponse

from service.local.sim.clock import iso_ms
from service.local.sim.world import Simulator

_log = structlog.get_logger(__name__)

STATIC: Final = Path(__file__).parent / "static"
_FILES: Final = {"playground.js": "text/javascript", "playground.css": "text/css"}
HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' blob:; media-src 'self' blob:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
# An event stream ends after this long and the browser reconnects (EventSource does so by
# itself): no connection outlives a server that wants to stop for more than this.
STREAM_S: Final = 25.0
KEEPALIVE_S: Final = 5.0
_ADMIN_TIMEOUT: Final = aiohttp.ClientTimeout(total=1.5)

router = APIRouter()


def _sim(request: Request) -> Simulator:
    sim: Simulator = request.app.state.sim
    return sim


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "playground.html", media_type="text/html", headers=HEADERS)


@router.get("/sandbox/static/{name}", include_in_schema=False)
async def static_file(name: str) -> FileResponse:
    media_type = _FILES.get(name)
    if media_type is None:
        raise HTTPException(404)
    return FileResponse(STATIC / name, media_type=media_type, headers=HEADERS)


@router.get("/sandbox/events")
async def events(request: Request) -> StreamingResponse:
    """Server-sent events: `change` with `{"version": n}` at once and after every change."""
    sim = _sim(request)

    async def stream() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + STREAM_S
        version = -1
        yield "retry: 1000\n\n"
        while loop.time() < ends_at and not await request.is_disconnected():
            current = await sim.changes.after(version, timeout_s=KEEPALIVE_S)
            if current == version:
                yield ": still here\n\n"
                continue
            version = current
            yield f"event: change\ndata: {json.dumps({'version': version})}\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def customers(sim: Simulator) -> list[dict[str, Any]]:
    """Everyone who has written, once per (customer, business number), latest first."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for record in sim.customer.inbound():
        seen[(record.customer, record.business)] = {
            "id": record.customer,
            "profileName": record.profile_name,
            "businessPhoneNumberId": record.business,
            "lastMessageAt": iso_ms(record.time),
        }
    return sorted(seen.values(), key=lambda c: c["lastMessageAt"], reverse=True)


@router.get("/sandbox/playground/state")
async def state(request: Request) -> dict[str, Any]:
    """Everything the playground shows, read at one version of the world."""
    sim = _sim(request)
    await sim.hub.refresh()
    return {
        "version": sim.changes.version,
        "now": iso_ms(sim.clock.now()),
        "businessNumbers": [number.describe() for number in sim.directory.numbers()],
        "customers": customers(sim),
        "inbound": [record.describe() for record in sim.customer.inbound()],
        "outbox": [entry.describe() for entry in sim.outbox.entries()],
        "contacts": [chat.describe() for chat in sim.store.chats()],
    }


@router.get("/sandbox/bridge/buffers")
async def bridge_buffers(request: Request) -> dict[str, Any]:
    """What each bridge worker buffers (customers masked by the bridge), via its admin API."""
    sim = _sim(request)
    urls = sim.settings.admin_urls.split()
    token = sim.settings.admin_token
    if not urls or token is None:
        return {"available": False, "customers": []}
    http: aiohttp.ClientSession = request.app.state.http
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
    rows: list[dict[str, Any]] = []
    reached = 0
    for url in urls:
        try:
            async with http.get(
                f"{url.rstrip('/')}/admin/buffers", headers=headers, timeout=_ADMIN_TIMEOUT
            ) as response:
                response.raise_for_status()
                rows += (await response.json())["customers"]
                reached += 1
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
            _log.debug("sim_bridge_buffers_unreachable", error=type(exc).__name__)
    return {"available": reached > 0, "customers": rows}
