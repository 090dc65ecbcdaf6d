"""The bridge's own voice in a chat: a `CUSTOM_BOT` participant (DESIGN §6).

Notes for the agent (a refused send, a closed window, an edit) must never look as if the
customer wrote them, so they come from a participant of the bridge's own, added to the
chat with `CreateParticipant` the first time the bridge has something to say. Its ids and
tokens live in the session (`SessionStore.set_bot`); its connection is renewed like the
customer's (a day's connection token in a chat of up to seven). The outbound path knows
it by `Session.bot_participant_id` and never sends its items to WhatsApp.

`CreateParticipant` carries a ClientToken derived from the chat, so two workers (or a
retry after a crash) add one participant, not two.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from typing import Final

import structlog

from service.bridge.adapters.connect_chat import ConnectChat
from service.bridge.adapters.sessions import Session, SessionStore
from service.clock import SYSTEM_CLOCK, Clock
from service.errors import (
    ConditionFailedError,
    ContactNotFoundError,
    InvalidRequestError,
    ParticipantAccessDeniedError,
)

log = structlog.get_logger(__name__)

DEFAULT_VOICE_NAME: Final = "WhatsApp"
# Renew the bot's connection this long before it expires rather than fail a note on it.
_RENEW_MARGIN_S: Final = 300


class BridgeVoice:
    def __init__(
        self,
        *,
        connect: ConnectChat,
        sessions: SessionStore,
        instance_id: Callable[[], str],
        display_name: str = DEFAULT_VOICE_NAME,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._connect = connect
        self._sessions = sessions
        # Read at call time: the instance lives in SSM and may change without a restart.
        self._instance_id = instance_id
        self._display_name = display_name
        self._clock = clock

    async def say(self, session: Session, text: str, *, client_token: str) -> bool:
        """Send `text` to the agent as the bridge; False (logged) if the chat is gone.

        Retryable errors reach the caller, whose retry repeats the same `client_token`,
        which Connect absorbs.
        """
        try:
            session = await self._joined(session)
        except (ContactNotFoundError, InvalidRequestError) as exc:
            # Connect refuses CreateParticipant on a contact that is no longer active.
            return _gone(session, exc)
        try:
            token = await self._connection(session)
            try:
                await self._send(token, text, client_token)
            except ParticipantAccessDeniedError:
                # The stored connection may have lapsed; only a refused renewal means gone.
                token = await self._connection(session, renew=True)
                await self._send(token, text, client_token)
        except ParticipantAccessDeniedError as exc:
            return _gone(session, exc)
        log.info("bridge_voice_said", contact_id=session.contact_id)
        return True

    async def _send(self, connection_token: str, text: str, client_token: str) -> None:
        await self._connect.send_message(
            connection_token=connection_token, content=text, client_token=client_token
        )

    async def _joined(self, session: Session) -> Session:
        if session.bot_participant_token is not None:
            return session
        added = await self._connect.add_bot(
            instance_id=self._instance_id(),
            contact_id=session.initial_contact_id,
            display_name=self._display_name,
            client_token=f"bot-{session.initial_contact_id}",
        )
        try:
            return await self._sessions.set_bot(
                session,
                participant_id=added.participant_id,
                participant_token=added.participant_token,
            )
        except ConditionFailedError:
            # The customer is in a newer chat; speak in the one asked for all the same
            # (its items are no longer anyone's to forward).
            return _with_bot(session, added.participant_id, added.participant_token)

    async def _connection(self, session: Session, *, renew: bool = False) -> str:
        expires_at = session.bot_connection_expires_at or 0
        if (
            not renew
            and session.bot_connection_token is not None
            and expires_at - self._clock.time() >= _RENEW_MARGIN_S
        ):
            return session.bot_connection_token
        assert session.bot_participant_token is not None  # noqa: S101  _joined() set it
        assert session.bot_participant_id is not None  # noqa: S101  set with the token
        connection = await self._connect.create_connection(
            participant_token=session.bot_participant_token, connect_participant=False
        )
        with contextlib.suppress(ConditionFailedError):
            await self._sessions.set_bot(
                session,
                participant_id=session.bot_participant_id,
                participant_token=session.bot_participant_token,
                connection_token=connection.connection_token,
                connection_expires_at=int(connection.expires_at.timestamp()),
            )
        return connection.connection_token


def _gone(session: Session, exc: Exception) -> bool:
    log.warning("bridge_voice_chat_gone", contact_id=session.contact_id, error=type(exc).__name__)
    return False


def _with_bot(session: Session, participant_id: str, participant_token: str) -> Session:
    return replace(
        session, bot_participant_id=participant_id, bot_participant_token=participant_token
    )
