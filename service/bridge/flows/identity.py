"""Identity changes: the customer changed phone number or WhatsApp user id (BSUID).

The session key is the business number plus the customer's identity (DESIGN §4), so after
`user_changed_number` / `user_changed_user_id` the customer's next message would arrive
under a key with no session and open a second chat beside the live one. The bridge moves
the live session to the new key as soon as the system message is stored, before any
message sent under the new identity can have waited out the buffer's quiet window; the
old key keeps an alias to the new one, so messages still buffered under the old identity
reach the same chat (`SessionStore.rekey`, one transaction).

If the chat is not stored yet (the customer's first burst is still buffered), the new key
is pointed at the old one, and the change is applied again once the burst holding the
system message has been delivered (`after_delivery`), which moves the chat then.

Idempotent: a replayed system message finds nothing left under the old key.
"""

from collections.abc import Sequence
from typing import Protocol

import structlog

from service.bridge.adapters.sessions import Session
from service.bridge.events.whatsapp import Customer, InboundMessage, SystemPayload
from service.clock import SYSTEM_CLOCK, Clock
from service.errors import ChatPendingError, ConditionFailedError

log = structlog.get_logger(__name__)

_ATTEMPTS = 3


class _Sessions(Protocol):
    async def get(self, customer_key: str) -> Session | None: ...

    async def alias_of(self, customer_key: str) -> tuple[str, int] | None: ...

    async def rekey(
        self, old_key: str, new_key: str, *, wa_id: str | None, bsuid: str | None
    ) -> Session | None: ...


def new_identity(message: InboundMessage) -> Customer | None:
    """Who the customer is after this system message; None if it changes nobody."""
    payload = message.payload
    if not isinstance(payload, SystemPayload) or not payload.changes_identity:
        return None
    customer = message.customer
    if payload.type == "user_changed_user_id":
        if not payload.user_id:
            return None
        return customer.model_copy(update={"bsuid": payload.user_id})
    # A changed number: the new `wa_id`, and the new BSUID when Meta issued one with it.
    return customer.model_copy(
        update={
            "wa_id": payload.wa_id or customer.wa_id,
            "bsuid": payload.user_id or customer.bsuid,
        }
    )


class IdentityChanges:
    def __init__(
        self,
        *,
        sessions: _Sessions,
        pending_wait_s: float = 60.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._sessions = sessions
        self._pending_wait_s = pending_wait_s
        self._clock = clock

    async def before_delivery(self, burst: Sequence[InboundMessage]) -> None:
        """A burst under a new identity whose chat the old identity is still opening waits
        for it (`ChatPendingError`, retried by the buffer) rather than open a second chat;
        for `pending_wait_s` at most, after which it opens its own."""
        if not burst:
            return
        key = burst[0].customer_key
        if await self._sessions.get(key) is not None:
            return  # its own chat, or the one its alias leads to
        alias = await self._sessions.alias_of(key)
        if alias is not None and self._clock.time() - alias[1] < self._pending_wait_s:
            raise ChatPendingError("the chat of the previous identity is not open yet")

    async def after_delivery(self, burst: Sequence[InboundMessage]) -> None:
        """The burst reached its chat: a change it carries can move that chat now."""
        await self.apply(burst)

    async def apply(self, messages: Sequence[InboundMessage]) -> None:
        for message in messages:
            after = new_identity(message)
            if after is None:
                continue
            new_key = after.key_for(message.business.phone_number_id)
            if new_key == message.customer_key:
                continue
            await self._move(message.customer_key, new_key, after)

    async def _move(self, old_key: str, new_key: str, after: Customer) -> None:
        for _ in range(_ATTEMPTS):
            try:
                moved = await self._sessions.rekey(
                    old_key, new_key, wa_id=after.wa_id, bsuid=after.bsuid
                )
            except ConditionFailedError:
                continue  # a concurrent write to the old session: read it again
            log.info(
                "identity_changed",
                customer=old_key,
                moved=moved is not None,
                contact_id=None if moved is None else moved.contact_id,
            )
            return
        # The new key keeps a session of its own (the customer wrote under it first):
        # merging two Connect chats is not possible. Logged, not retried.
        log.warning("identity_change_not_applied", customer=old_key)
