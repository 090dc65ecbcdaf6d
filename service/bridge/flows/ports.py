"""What the flows need of the adapters, as Protocols.

A flow names the few calls it makes; the adapters (`service.bridge.adapters`) satisfy
these structurally, and unit tests stand in small fakes that do the same, so every flow's
decisions are tested without AWS (tests/unit/bridge/flows).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from service.bridge.adapters.claims import Claim, SentMessage
from service.bridge.adapters.sessions import HeldMessage, HoldResult, Session
from service.bridge.adapters.whatsapp import Recipient
from service.bridge.events.connect import Attachment
from service.bridge.events.whatsapp import InboundMessage
from service.bridge.policy.pacing import Reservation

T = TypeVar("T")


class Sessions(Protocol):
    async def get(self, customer_key: str) -> Session | None: ...

    async def find_by_initial_contact(self, initial_contact_id: str) -> Session | None: ...

    async def delete(self, customer_key: str, *, initial_contact_id: str | None = None) -> bool: ...

    async def hold(
        self, session: Session, message: HeldMessage, *, max_held: int
    ) -> HoldResult: ...

    async def unhold(self, session: Session, keys: Sequence[str]) -> bool: ...

    async def mark_reengaged(self, session: Session, *, template: str) -> None: ...


class WhatsAppSender(Protocol):
    async def send(self, *, origination_id: str, message: Mapping[str, Any]) -> str: ...

    async def mark_read(
        self, *, origination_id: str, message_id: str, typing: bool = False
    ) -> None: ...

    async def react(
        self, *, origination_id: str, recipient: Recipient, message_id: str, emoji: str
    ) -> None: ...


class SendClaimsPort(Protocol):
    async def claim(self, key: str) -> Claim: ...

    async def complete(
        self, key: str, *, whatsapp_message_id: str | None, sent: SentMessage | None = None
    ) -> None: ...

    async def release(self, key: str) -> None: ...

    async def settle(self, key: str, *, whatsapp_message_id: str) -> bool: ...

    async def remember(self, sent: SentMessage) -> None: ...

    async def sent(self, whatsapp_message_id: str) -> SentMessage | None: ...


class PacerPort(Protocol):
    def reserve(self, business: str, customer: str) -> Reservation: ...

    def slow_down(self, business: str, customer: str | None = None) -> None: ...


class Chat(Protocol):
    """A live chat as its customer participant (`adapters.connection.ChatConnection`)."""

    async def call(self, session: Session, action: Callable[[str], Awaitable[T]]) -> T: ...

    async def note(self, session: Session, text: str, *, client_token: str) -> bool: ...

    async def receipt(self, session: Session, item_id: str, *, read: bool) -> None: ...


class History(Protocol):
    async def messages(self, customer_key: str) -> list[InboundMessage]: ...


class MediaPort(Protocol):
    async def message_fields(
        self, *, connection_token: str, attachment: Attachment, origination_id: str
    ) -> dict[str, Any]: ...
