"""What an operator may see of live chats and do to them, with identities masked.

The admin API reads sessions through this (it satisfies `service.admin.views.SessionsView`
structurally; neither side imports the other): pages of redacted sessions, one customer's
session, and ending a chat (disconnect the customer participant, forget the session).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import structlog

from service.bridge.adapters.connect_chat import ConnectChat
from service.bridge.adapters.sessions import SessionStore
from service.errors import BridgeError, ParticipantAccessDeniedError

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Page:
    sessions: list[dict[str, Any]]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class Ended:
    deleted: bool
    disconnected: bool


class ChatAdmin:
    def __init__(self, *, sessions: SessionStore, connect: ConnectChat) -> None:
        self._sessions = sessions
        self._connect = connect

    async def page(self, *, limit: int, cursor: str | None) -> Page:
        found = await self._sessions.list(limit=limit, cursor=cursor)
        return Page([s.redacted() for s in found.sessions], found.cursor)

    async def one(self, customer_key: str) -> dict[str, Any] | None:
        session = await self._sessions.get(customer_key)
        return None if session is None else session.redacted()

    async def end(self, customer_key: str) -> Ended | None:
        session = await self._sessions.get(customer_key)
        if session is None:
            return None
        disconnected = False
        if session.connection_token is not None:
            try:
                await self._connect.disconnect(
                    connection_token=session.connection_token, client_token=str(uuid.uuid4())
                )
                disconnected = True
            except ParticipantAccessDeniedError:
                pass  # the chat had already ended
            except BridgeError as exc:
                log.warning("admin_disconnect_failed", error=type(exc).__name__)
        deleted = await self._sessions.delete(
            customer_key, initial_contact_id=session.initial_contact_id
        )
        log.info("chat_ended_by_operator", contact_id=session.contact_id, disconnected=disconnected)
        return Ended(deleted=deleted, disconnected=disconnected)
