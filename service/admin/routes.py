"""Token-guarded inspection of this worker's state: sessions, buffers, shards.

Customer keys contain phone numbers, so every key and identity leaves this API masked
(all but the last four characters); tokens never leave it. A customer is addressed by
its full key, URL-encoded (`200000000000002%235215512345678`), or, where a screen only
ever saw masked keys (the console), by the opaque `ref` each buffered row carries.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, HTTPException, Query

from service.admin.errors import NO_PAGE, NOT_FOUND
from service.admin.views import BuffersView, SessionsView, ShardsView
from service.redaction import mask_customer

log = structlog.get_logger(__name__)


def sessions_router(*, sessions: SessionsView, buffer: BuffersView) -> APIRouter:
    router = APIRouter(tags=["sessions"])

    @router.get(
        "/sessions", summary="Live chat sessions (paged; masked, no tokens)", responses=NO_PAGE
    )
    async def list_sessions(
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[
            str | None,
            Query(description="The `cursor` of the previous page, as it was returned"),
        ] = None,
    ) -> dict[str, Any]:
        try:
            page = await sessions.page(limit=limit, cursor=cursor or None)
        except ValueError as exc:
            raise HTTPException(404, f"no such page: {exc}") from exc
        return {"sessions": list(page.sessions), "cursor": page.cursor}

    @router.get(
        "/sessions/{customer}",
        summary="One customer's session and buffer on this task",
        responses=NOT_FOUND,
    )
    async def get_session(customer: str) -> dict[str, Any]:
        session = await sessions.one(customer)
        buffered = [
            _masked(entry) for entry in buffer.snapshot() if entry["customer_key"] == customer
        ]
        if session is None and not buffered:
            raise HTTPException(404, "no session and nothing buffered for this customer")
        return {"session": session, "buffer": buffered}

    @router.delete(
        "/sessions/{customer}",
        summary="Disconnect the customer and forget the session",
        responses=NOT_FOUND,
    )
    async def delete_session(customer: str) -> dict[str, Any]:
        ended = await sessions.end(customer)
        if ended is None:
            raise HTTPException(404, "no session for this customer")
        log.info("admin_session_deleted", disconnected=ended.disconnected)
        return {"deleted": ended.deleted, "disconnected": ended.disconnected}

    return router


def worker_router(*, buffer: BuffersView, stream: ShardsView) -> APIRouter:
    router = APIRouter(tags=["this worker"])
    # A ref names a customer without revealing the key: a keyed hash whose key lives only
    # in this process, so refs cannot be computed from a phone number outside it.
    ref_key = secrets.token_bytes(16)

    def ref(customer_key: str) -> str:
        return hmac.new(ref_key, customer_key.encode(), hashlib.sha256).hexdigest()[:20]

    @router.get("/buffers", summary="Customers buffered on this task")
    async def list_buffers() -> dict[str, Any]:
        return {
            "customers": [
                _masked(entry) | {"ref": ref(entry["customer_key"])} for entry in buffer.snapshot()
            ]
        }

    @router.post(
        "/buffers/refs/{customer_ref}/flush",
        summary="Deliver a burst now, by its ref",
        responses=NOT_FOUND,
    )
    async def flush_by_ref(customer_ref: str) -> dict[str, Any]:
        key = next(
            (
                e["customer_key"]
                for e in buffer.snapshot()
                if ref(e["customer_key"]) == customer_ref
            ),
            None,
        )
        if key is None or not await buffer.flush_customer(key):
            raise HTTPException(404, "nothing buffered under this ref on this task")
        log.info("admin_action", action="flush")
        return {"flushed": True}

    @router.post(
        "/buffers/{customer}/flush",
        summary="Deliver this customer's burst now",
        responses=NOT_FOUND,
    )
    async def flush_buffer(customer: str) -> dict[str, Any]:
        if not await buffer.flush_customer(customer):
            raise HTTPException(404, "nothing buffered for this customer on this task")
        log.info("admin_action", action="flush")
        return {"flushed": True}

    @router.get("/shards", summary="Stream shards: owner, checkpoint, lag, parent, state")
    async def list_shards() -> dict[str, Any]:
        return {
            "worker": stream.worker_id,
            "held": stream.held_shards(),
            "shards": [asdict(s) for s in stream.snapshot()],
        }

    return router


def _masked(entry: Any) -> dict[str, Any]:
    return {**entry, "customer_key": mask_customer(entry["customer_key"])}
