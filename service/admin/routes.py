"""Token-guarded inspection of this worker's state: sessions, buffers, shards.

Customer keys contain phone numbers, so every key and identity leaves this API masked
(all but the last four characters); tokens never leave it. A customer is addressed by
its full key, URL-encoded (`200000000000002%235215512345678`).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, HTTPException, Query

from service.bridge.adapters.connect_chat import ConnectChat
from service.bridge.adapters.sessions import SessionStore, mask
from service.bridge.events.whatsapp import InboundMessage
from service.bridge.policy.buffer import CustomerBuffer
from service.consumers.stream.consumer import StreamConsumer
from service.errors import BridgeError, ParticipantAccessDeniedError

log = structlog.get_logger(__name__)


def mask_customer(customer_key: str) -> str:
    business, sep, customer = customer_key.partition("#")
    return f"{business}#{mask(customer)}" if sep else mask(business)


def sessions_router(
    *,
    sessions: SessionStore,
    buffer: CustomerBuffer[InboundMessage],
    connect: ConnectChat,
) -> APIRouter:
    router = APIRouter(tags=["sessions"])

    @router.get("/sessions", summary="Live chat sessions (paged; masked, no tokens)")
    async def list_sessions(
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        try:
            page = await sessions.list(limit=limit, cursor=cursor)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"sessions": [s.redacted() for s in page.sessions], "cursor": page.cursor}

    @router.get("/sessions/{customer}", summary="One customer's session and buffer on this task")
    async def get_session(customer: str) -> dict[str, Any]:
        session = await sessions.get(customer)
        buffered = [
            _masked(entry) for entry in buffer.snapshot() if entry["customer_key"] == customer
        ]
        if session is None and not buffered:
            raise HTTPException(404, "no session and nothing buffered for this customer")
        return {"session": None if session is None else session.redacted(), "buffer": buffered}

    @router.delete("/sessions/{customer}", summary="Disconnect the customer and forget the session")
    async def delete_session(customer: str) -> dict[str, Any]:
        session = await sessions.get(customer)
        if session is None:
            raise HTTPException(404, "no session for this customer")
        disconnected = False
        if session.connection_token is not None:
            try:
                await connect.disconnect(
                    connection_token=session.connection_token, client_token=str(uuid.uuid4())
                )
                disconnected = True
            except ParticipantAccessDeniedError:
                pass  # the chat had already ended
            except BridgeError as exc:
                log.warning("admin_disconnect_failed", error=type(exc).__name__)
        deleted = await sessions.delete(customer, initial_contact_id=session.initial_contact_id)
        log.info("admin_session_deleted", contact_id=session.contact_id, disconnected=disconnected)
        return {"deleted": deleted, "disconnected": disconnected}

    return router


def worker_router(*, buffer: CustomerBuffer[InboundMessage], stream: StreamConsumer) -> APIRouter:
    router = APIRouter(tags=["this worker"])

    @router.get("/buffers", summary="Customers buffered on this task")
    async def list_buffers() -> dict[str, Any]:
        return {"customers": [_masked(entry) for entry in buffer.snapshot()]}

    @router.post("/buffers/{customer}/flush", summary="Deliver this customer's burst now")
    async def flush_buffer(customer: str) -> dict[str, Any]:
        if not await buffer.flush_customer(customer):
            raise HTTPException(404, "nothing buffered for this customer on this task")
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
