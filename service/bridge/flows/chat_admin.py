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
from service.bridge.adapters.sessions import Session, SessionStore
from service.bridge.policy.window import window_closes_at, window_open
from service.clock import SYSTEM_CLOCK, Clock
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
    def __init__(
        self, *, sessions: SessionStore, connect: ConnectChat, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._sessions = sessions
        self._connect = connect
        self._clock = clock

    async def page(self, *, limit: int, cursor: str | None) -> Page:
        found = await self._sessions.list(limit=limit, cursor=cursor)
        return Page([self._view(s) for s in found.sessions], found.cursor)

    async def one(self, customer_key: str) -> dict[str, Any] | None:
        session = await self._sessions.get(customer_key)
        return None if session is None else self._view(session)

    def _view(self, session: Session) -> dict[str, Any]:
        """The redacted session, with what an operator asks first: may the agent still
        write freely (the 24-hour window), and has the bridge spoken in the chat."""
        closes_at = window_closes_at(session.last_customer_message_at)
        return {
            **session.redacted(),
            "window_open_until": closes_at,
            "window_open": window_open(session.last_customer_message_at, self._clock.time()),
        }

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
