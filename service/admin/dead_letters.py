"""Token-guarded dead-letter routes: look at each queue's parked messages, redrive, purge.

What leaves here is the facts the bridge attached when it parked a message (reason,
source, cause, when), never the message's body. Every action is logged (queue and
counts only) with the operator's intent; purging needs the queue's name repeated.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Final

import structlog
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from service.admin.errors import problem
from service.admin.views import DeadLettersView
from service.errors import BridgeError

log = structlog.get_logger(__name__)

# What each action may answer besides 200, so the OpenAPI document is the whole truth.
_NO_QUEUE: Final = problem(404, "No dead-letter queue of that name")
# FastAPI answers a body that is not JSON with 400 before the route runs.
_REDRIVE: Final = (
    _NO_QUEUE
    | problem(400, "The body is not JSON")
    | problem(503, "SQS refused a call; nothing was lost, try again")
)
_PURGE: Final = (
    _NO_QUEUE
    | problem(400, "The body is not JSON, or the confirmation is not the queue's name")
    | problem(409, "SQS refused the purge (one purge a minute per queue)")
)


class RedriveBody(BaseModel):
    # None (or absent): every redrivable message of the queue.
    message_ids: list[str] | None = Field(default=None, max_length=1000)


class PurgeBody(BaseModel):
    confirm: str = Field(description="The queue's name again: a purge cannot be undone.")


def dead_letters_router(*, dead_letters: DeadLettersView) -> APIRouter:
    router = APIRouter(tags=["dead letters"])

    def known(queue: str) -> None:
        if queue not in dead_letters.queues():
            raise HTTPException(404, f"no dead-letter queue {queue!r}")

    @router.get("/dead-letters", summary="Parked messages per dead-letter queue (no bodies)")
    async def list_dead_letters() -> dict[str, Any]:
        queues: list[dict[str, Any]] = []
        for queue in dead_letters.queues():
            try:
                messages, more = await dead_letters.look(queue)
            except BridgeError as exc:
                queues.append({"queue": queue, "error": type(exc).__name__, "messages": []})
                continue
            queues.append({"queue": queue, "messages": [asdict(m) for m in messages], "more": more})
        return {"queues": queues}

    @router.post(
        "/dead-letters/{queue}/redrive",
        summary="Send parked messages back to their queue",
        responses=_REDRIVE,
    )
    async def redrive(queue: str, body: RedriveBody) -> dict[str, Any]:
        known(queue)
        try:
            result = asdict(await dead_letters.redrive(queue, body.message_ids))
        except BridgeError as exc:
            raise HTTPException(503, f"SQS refused: {type(exc).__name__}") from exc
        log.info(
            "admin_action",
            action="redrive",
            queue=queue,
            asked="all" if body.message_ids is None else len(body.message_ids),
            **{key: len(ids) for key, ids in result.items()},
        )
        return result

    @router.post(
        "/dead-letters/{queue}/purge", summary="Delete every message of the DLQ", responses=_PURGE
    )
    async def purge(queue: str, body: PurgeBody) -> dict[str, Any]:
        known(queue)
        if body.confirm != queue:
            raise HTTPException(400, "confirm with the queue's name")
        try:
            await dead_letters.purge(queue)
        except BridgeError as exc:
            raise HTTPException(409, f"SQS refused the purge: {type(exc).__name__}") from exc
        log.info("admin_action", action="purge", queue=queue)
        return {"purged": True}

    return router
