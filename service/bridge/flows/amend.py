"""Edits and deletions of the customer's messages, around the delivery of each burst.

A burst is first amended in place (`policy.amendments`): what the agent has not seen yet
reaches it as the customer finally meant it. What the agent has already seen cannot be
changed in Connect, so the bridge tells the agent, in its own voice (DESIGN §6): the old
and the new text of an edit (the old one read from the raw-messages table, which holds
every message the customer sent, with edits applied in order), or that a message was
deleted, without repeating it.

Exactly once: the burst's delivery is the ledger's (`flows.deliver`); each note's
ClientToken is derived from the edit or revoke message id, so a replayed burst adds no
second note. Notes follow the burst: a failure raises, and the buffer retries the whole
burst, whose delivery the ledger then skips.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import structlog

from service.bridge.adapters.sessions import Session
from service.bridge.events.whatsapp import (
    EditPayload,
    InboundMessage,
    MediaPayload,
    RevokePayload,
    TextPayload,
)
from service.bridge.flows.ports import History
from service.bridge.policy.amendments import amend_burst
from service.bridge.text.amendments import edit_note, revoke_note

log = structlog.get_logger(__name__)


class _Sessions(Protocol):
    async def get(self, customer_key: str) -> Session | None: ...


class _Notes(Protocol):
    async def note(self, session: Session, text: str, *, client_token: str) -> bool: ...


class Amendments:
    def __init__(
        self,
        *,
        deliver: Callable[[Sequence[InboundMessage]], Awaitable[None]],
        sessions: _Sessions,
        history: History,
        notes: _Notes,
    ) -> None:
        self._deliver = deliver
        self._sessions = sessions
        self._history = history
        self._notes = notes

    async def deliver(self, burst: Sequence[InboundMessage]) -> None:
        amended = amend_burst(burst)
        await self._deliver(amended.burst)
        if not amended.late:
            return
        customer_key = amended.late[0].customer_key
        session = await self._sessions.get(customer_key)
        if session is None:
            # The message it changes went to a chat that has ended: nobody to tell.
            log.info("amendment_without_chat", customer=customer_key, count=len(amended.late))
            return
        earlier = await self._history.messages(customer_key)
        for message in amended.late:
            text = _note_for(message, earlier)
            await self._notes.note(session, text, client_token=f"note-{message.message_id}")


def _note_for(message: InboundMessage, earlier: Sequence[InboundMessage]) -> str:
    payload = message.payload
    if isinstance(payload, RevokePayload):
        original = _find(earlier, payload.original_message_id)
        return revoke_note(None if original is None else original.timestamp)
    assert isinstance(payload, EditPayload)  # noqa: S101  amend_burst hands back only these
    return edit_note(_text_before(message, earlier), payload.text)


def _find(messages: Sequence[InboundMessage], message_id: str) -> InboundMessage | None:
    return next((m for m in messages if m.message_id == message_id), None)


def _text_before(edit: InboundMessage, earlier: Sequence[InboundMessage]) -> str | None:
    """What the message said before this edit: its text, changed by any earlier edits."""
    assert isinstance(edit.payload, EditPayload)  # noqa: S101  checked by the caller
    target = edit.payload.original_message_id
    original = _find(earlier, target)
    text = None if original is None else _text_of(original.payload)
    for message in earlier:
        if message.message_id == edit.message_id:
            break
        if (
            isinstance(message.payload, EditPayload)
            and message.payload.original_message_id == target
        ):
            text = message.payload.text if message.payload.text is not None else text
    return text


def _text_of(payload: object) -> str | None:
    if isinstance(payload, TextPayload):
        return payload.body
    if isinstance(payload, MediaPayload):
        return payload.caption
    return None
