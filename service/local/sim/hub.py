"""What every Connect-side actor shares: the chats, the clock, the config, the stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from service.local.sim.chat import Chat, ChatStore, EndReason, Item
from service.local.sim.clock import Clock
from service.local.sim.config import SimConfig


class ItemPublisher(Protocol):
    async def publish(self, chat: Chat, items: Sequence[Item]) -> None: ...

    def publish_later(self, chat: Chat, items: Sequence[Item], delay_s: float) -> None: ...


class ChatHub:
    def __init__(
        self, *, store: ChatStore, clock: Clock, config: SimConfig, publisher: ItemPublisher
    ) -> None:
        self.store = store
        self.clock = clock
        self.config = config
        self._publisher = publisher

    def now(self) -> float:
        return self.clock.now()

    async def emit(self, chat: Chat, items: Sequence[Item]) -> None:
        if items:
            await self._publisher.publish(chat, items)

    def emit_later(self, chat: Chat, items: Sequence[Item], delay_s: float) -> None:
        self._publisher.publish_later(chat, items, delay_s)

    async def refresh(self) -> None:
        """End every chat whose duration has passed (checked lazily, on each call)."""
        for chat in self.store.due(self.now()):
            await self.emit(chat, chat.end(chat.ends_at, EndReason.DURATION_EXPIRED))
