"""Calls into a live chat as its customer participant: the one place that reconnects.

Notes for the agent are not the customer's words: `note` speaks through the bridge's own
participant (`adapters.voice.BridgeVoice`), which reconnects its own connection the same way.

Connection tokens live a day, chats up to seven (DESIGN §6). Before a call, a token that
is missing or about to expire is renewed; a call refused with AccessDenied renews the
connection with the stored participant token and is made once more. Only a refused
renewal (CreateParticipantConnection AccessDenied) means the chat is gone:
`ParticipantAccessDeniedError` reaches the caller, who decides what "gone" means for it
(start a new chat, drop a receipt). A call refused again right after a renewal that
succeeded is transient: `RefusedAfterReconnectError`, which callers retry with backoff.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Final, TypeVar

import structlog

from service.bridge.adapters.connect_chat import ConnectChat
from service.bridge.adapters.sessions import Session, SessionStore
from service.bridge.adapters.voice import BridgeVoice
from service.clock import SYSTEM_CLOCK, Clock
from service.errors import (
    ConditionFailedError,
    ConfigurationError,
    ParticipantAccessDeniedError,
    RefusedAfterReconnectError,
)

log = structlog.get_logger(__name__)

T = TypeVar("T")

# Renew a connection token this long before it expires rather than fail a call on it.
RENEW_MARGIN_S: Final = 300


class ChatConnection:
    def __init__(
        self,
        *,
        connect: ConnectChat,
        sessions: SessionStore,
        voice: BridgeVoice | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._connect = connect
        self._sessions = sessions
        # Only the paths that tell the agent something need it (delivery does not).
        self._voice = voice
        self._clock = clock

    async def call(self, session: Session, action: Callable[[str], Awaitable[T]]) -> T:
        """`action(connection_token)`, renewing the connection as described above."""
        expires_at = session.connection_expires_at or 0
        if session.connection_token and expires_at - self._clock.time() >= RENEW_MARGIN_S:
            try:
                return await action(session.connection_token)
            except ParticipantAccessDeniedError:
                log.info("connect_connection_refused", contact_id=session.contact_id)
        session = await self.renew(session)
        assert session.connection_token is not None  # noqa: S101  renew() just set it
        try:
            return await action(session.connection_token)
        except ParticipantAccessDeniedError as exc:
            # The participant token was just accepted, so the chat is alive: a refusal now
            # is Connect propagating the new connection. Ending the session here would
            # strand the agent in the old chat.
            raise RefusedAfterReconnectError("refused right after a reconnect") from exc

    async def renew(self, session: Session) -> Session:
        """A new connection for the session's participant; `ParticipantAccessDeniedError`
        when the chat is gone."""
        connection = await self._connect.create_connection(
            participant_token=session.participant_token
        )
        expires_at = int(connection.expires_at.timestamp())
        renewed = replace(
            session, connection_token=connection.connection_token, connection_expires_at=expires_at
        )
        # On a conflict someone else changed the session; our new token is valid all the same.
        with contextlib.suppress(ConditionFailedError):
            renewed = await self._sessions.update_connection(
                session.customer_key,
                connection_token=connection.connection_token,
                connection_expires_at=expires_at,
                expected_version=session.version,
            )
        log.info("connection_renewed", contact_id=session.contact_id)
        return renewed

    async def receipt(self, session: Session, item_id: str, *, read: bool) -> None:
        kind = "read" if read else "delivered"

        async def send(token: str) -> object:
            return await self._connect.send_receipt(
                connection_token=token,
                message_id=item_id,
                read=read,
                client_token=f"rcpt-{item_id}-{kind}",
            )

        await self.call(session, send)

    async def note(self, session: Session, text: str, *, client_token: str) -> bool:
        """Tell the agent `text` as the bridge (never as the customer); False (logged) if
        the chat cannot take it."""
        if self._voice is None:
            raise ConfigurationError("this chat connection was built without the bridge's voice")
        return await self._voice.say(session, text, client_token=client_token)
