"""`POST /admin/outreach`: the business writes first, with an approved WhatsApp template.

The reply opens a chat whose contact attributes name the outreach (`outreachId`,
`outreachTemplate`), so a contact flow can route it. The request's `outreach_id` is its
idempotency key: sending the same request again sends nothing and answers the same.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from service.admin.errors import problem


class OutreachBody(BaseModel):
    business: Annotated[
        str,
        Field(
            min_length=1,
            max_length=2048,
            pattern=r"^(phone-number-id-[0-9a-zA-Z]+|arn:[^:]+:social-messaging:[^:]+:[0-9]+:phone-number-id/[0-9a-zA-Z]+)$",
            description="The WhatsApp business number: its EUM id (phone-number-id-…) or ARN",
        ),
    ]
    to: Annotated[
        str,
        Field(
            min_length=1,
            max_length=128,
            pattern=r"^(\+?[1-9][0-9]{6,14}|[A-Z]{2}\.[A-Za-z0-9]{6,})$",
            description="Phone number (E.164) or BSUID",
        ),
    ]
    template: Annotated[str, Field(min_length=1, max_length=512)]
    language: Annotated[str | None, Field(max_length=20)] = None
    parameters: Annotated[list[Annotated[str, Field(max_length=1024)]], Field(max_length=20)] = []
    outreach_id: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=128,
            pattern=r"^[A-Za-z0-9._:-]+$",
            description="Idempotency key; one is generated when absent",
        ),
    ] = None
    requested_by: Annotated[str | None, Field(max_length=256)] = None


class OutreachView(Protocol):
    async def send(self, body: OutreachBody) -> dict[str, Any]:
        """Send it; raises `OutreachProblem` (status, plain words) when it cannot."""
        ...


class OutreachProblemError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def outreach_router(*, outreach: OutreachView) -> APIRouter:
    router = APIRouter(tags=["outreach"])

    @router.post(
        "/outreach",
        status_code=202,
        summary="Send an approved template to a customer; their reply opens a chat naming it",
        responses={
            **problem(400, "The body is not JSON"),
            **problem(404, "No such WhatsApp business number"),
            **problem(
                409,
                "The customer has a live chat, this outreach is being sent, or the template, "
                "its language or its parameters do not fit",
            ),
            **problem(429, "The business number is sending at its limit; try again"),
            **problem(503, "WhatsApp or AWS does not answer; try again"),
        },
    )
    async def send_outreach(body: OutreachBody) -> dict[str, Any]:
        try:
            return await outreach.send(body)
        except OutreachProblemError as exc:
            raise HTTPException(exc.status, exc.reason) from exc

    return router
