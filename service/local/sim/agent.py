"""The agent: what a human in the Contact Control Panel does to a chat.

The agent joins lazily (its first action publishes participant.joined), and every action
becomes a transcript item streamed to the contact's topics like Connect's own events.
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal

from service.local.sim.chat import (
    AGENT,
    DELIVERED,
    INTERACTIVE,
    JOINED,
    LEFT,
    READ,
    SYSTEM,
    TRANSFER_SUCCEEDED,
    TYPING,
    Attachment,
    Chat,
    EndReason,
    Item,
    Participant,
    new_id,
)
from service.local.sim.errors import SandboxError
from service.local.sim.hub import ChatHub
from service.local.sim.participant import apply_receipt
from service.local.sim.streaming import visibility_for

AGENT_MESSAGE_TYPES: Final = frozenset(
    {"text/plain", "text/markdown", "application/json", INTERACTIVE}
)
_EVENT_TYPES: Final = {"typing": TYPING, "delivered": DELIVERED, "read": READ}

AgentEvent = Literal["typing", "delivered", "read"]


class AgentDesk:
    def __init__(self, *, hub: ChatHub) -> None:
        self._hub = hub

    async def _live_chat(self, contact_id: str) -> Chat:
        await self._hub.refresh()
        chat = self._hub.store.by_contact(contact_id)
        if chat is None:
            raise SandboxError(404, f"unknown contact {contact_id}")
        if not chat.active:
            raise SandboxError(409, "the chat has ended")
        return chat

    def _join(
        self, chat: Chat, now: float, display_name: str | None
    ) -> tuple[Participant, list[Item]]:
        agent = chat.agent
        if agent is not None and agent.left_at is None:
            return agent, []
        agent = Participant(
            new_id(), AGENT, display_name or self._hub.config.agent_display_name, joined_at=now
        )
        chat.agent = agent
        return agent, [chat.append(now, kind="EVENT", participant=agent, content_type=JOINED)]

    async def send_message(
        self,
        contact_id: str,
        *,
        content_type: str,
        content: str,
        display_name: str | None,
        stream_delay_s: float = 0.0,
    ) -> Item:
        if content_type not in AGENT_MESSAGE_TYPES:
            raise SandboxError(400, f"agents cannot send {content_type}")
        if not content:
            raise SandboxError(400, "content must not be empty")
        chat = await self._live_chat(contact_id)
        now = self._hub.now()
        agent, items = self._join(chat, now, display_name)
        item = chat.append(
            now, kind="MESSAGE", participant=agent, content_type=content_type, content=content
        )
        if stream_delay_s > 0:
            await self._hub.emit(chat, items)
            self._hub.emit_later(chat, [item], stream_delay_s)
        else:
            await self._hub.emit(chat, [*items, item])
        return item

    async def send_attachment(
        self,
        contact_id: str,
        *,
        name: str,
        content_type: str,
        data: bytes,
        display_name: str | None,
    ) -> Item:
        if not data:
            raise SandboxError(400, "an attachment needs content")
        chat = await self._live_chat(contact_id)
        now = self._hub.now()
        agent, items = self._join(chat, now, display_name)
        attachment = Attachment(
            attachment_id=new_id(),
            name=name,
            content_type=content_type,
            size=len(data),
            uploader=agent,
            client_token=None,
            upload_expires_at=now,
            data=data,
            status="APPROVED",
        )
        self._hub.store.add_attachment(chat, attachment)
        item = chat.append(
            now,
            kind="ATTACHMENT",
            participant=agent,
            content_type=content_type,
            attachments=[attachment],
        )
        await self._hub.emit(chat, [*items, item])
        return item

    async def send_event(
        self, contact_id: str, *, event: AgentEvent, message_id: str | None
    ) -> Item:
        content_type = _EVENT_TYPES[event]
        content: str | None = None
        chat = await self._live_chat(contact_id)
        now = self._hub.now()
        agent, items = self._join(chat, now, None)
        if content_type in {DELIVERED, READ}:
            if not message_id:
                raise SandboxError(400, f"a {event} receipt needs messageId")
            if chat.find_item(message_id) is None:
                raise SandboxError(404, f"no transcript item {message_id}")
            apply_receipt(chat, agent, content_type, message_id, now)
            content = json.dumps({"messageId": message_id})
        item = chat.append(
            now,
            kind="EVENT",
            participant=agent,
            content_type=content_type,
            content=content,
            visibility=visibility_for(AGENT, content_type),
        )
        await self._hub.emit(chat, [*items, item])
        return item

    async def end(self, contact_id: str) -> list[Item]:
        chat = await self._live_chat(contact_id)
        now = self._hub.now()
        _, items = self._join(chat, now, None)
        items += chat.end(now, EndReason.AGENT_ENDED)
        await self._hub.emit(chat, items)
        return items

    async def transfer(self, contact_id: str) -> dict[str, Any]:
        """A new ContactId, same InitialContactId; the next agent action is a new agent."""
        chat = await self._live_chat(contact_id)
        now = self._hub.now()
        items: list[Item] = []
        previous = chat.contact_id
        if chat.agent is not None and chat.agent.left_at is None:
            chat.agent.left_at = now
            items.append(chat.append(now, kind="EVENT", participant=chat.agent, content_type=LEFT))
        if chat.agent is not None:
            chat.past_agents.append(chat.agent)
            chat.agent = None
        self._hub.store.add_contact_id(chat, new_id())
        system = Participant(new_id(), SYSTEM, "SYSTEM_MESSAGE", joined_at=now)
        items.append(
            chat.append(now, kind="EVENT", participant=system, content_type=TRANSFER_SUCCEEDED)
        )
        await self._hub.emit(chat, items)
        return {
            "contactId": chat.contact_id,
            "previousContactId": previous,
            "initialContactId": chat.initial_contact_id,
        }
