"""The `connectparticipant` operations, as the bridge's participants (customer, bot) see them.

Tokens: the ParticipantToken lives as long as the chat; CreateParticipantConnection turns
it into a ConnectionToken that expires (1 day by default) and must first be asked for
within 5 minutes of StartChatContact. Any call with an unknown or expired token, or on an
ended chat, is AccessDeniedException, which is what tells the bridge to reconnect or to
start over.
"""

from __future__ import annotations

import json
from typing import Any, Final

from service.local.sim.chat import (
    CONNECTION_ACK,
    DELIVERED,
    INTERACTIVE,
    INTERACTIVE_RESPONSE,
    JOINED,
    LEFT,
    READ,
    TYPING,
    Chat,
    ChatState,
    Connection,
    EndReason,
    Item,
    Participant,
    new_token,
)
from service.local.sim.clock import iso_ms
from service.local.sim.errors import AwsError
from service.local.sim.hub import ChatHub
from service.local.sim.paging import decode_offset, encode_offset
from service.local.sim.streaming import visibility_for

_ACCESS_DENIED: Final = "AccessDeniedException"
_VALIDATION: Final = "ValidationException"

MESSAGE_TYPES: Final = frozenset(
    {"text/plain", "text/markdown", "application/json", INTERACTIVE_RESPONSE}
)
EVENT_TYPES: Final = frozenset({TYPING, CONNECTION_ACK, DELIVERED, READ})
# Item kinds / events that GetTranscript returns; typing and receipts are not transcript.
_TRANSCRIPT_EVENTS: Final = frozenset({JOINED, LEFT})
_DEFAULT_PAGE: Final = 15
_WEBSOCKET_TTL_S: Final = 100


def mark_connected(hub: ChatHub, chat: Chat) -> list[Item]:
    """The customer participant is connected (`ConnectParticipant` / acknowledgement)."""
    now = hub.now()
    if chat.first_connection_at is None:
        chat.first_connection_at = now
    if chat.state is not ChatState.INITIATED:
        return []
    chat.state = ChatState.CONNECTED
    chat.customer.joined_at = now
    return [chat.append(now, kind="EVENT", participant=chat.customer, content_type=JOINED)]


def connection_response(
    hub: ChatHub, chat: Chat, types: list[str], participant: Participant | None = None
) -> dict[str, Any]:
    """Credentials for `participant` (the customer unless named)."""
    now = hub.now()
    who = participant or chat.customer
    if who is chat.customer and chat.first_connection_at is None:
        chat.first_connection_at = now
    response: dict[str, Any] = {}
    if "CONNECTION_CREDENTIALS" in types:
        connection = hub.store.connect(chat, who, now + hub.config.connection_token_ttl_s)
        response["ConnectionCredentials"] = {
            "ConnectionToken": connection.token,
            "Expiry": iso_ms(connection.expires_at),
        }
    if "WEBSOCKET" in types:
        # The simulator has no websocket; a URL keeps clients that only log it working.
        response["Websocket"] = {
            "Url": f"wss://participant.connect.invalid/{new_token('ws-')}",
            "ConnectionExpiry": iso_ms(now + _WEBSOCKET_TTL_S),
        }
    return response


def check_text(content_type: str, content: str, limit: int | None, *, code: str) -> None:
    if (
        content_type in {"text/plain", "text/markdown"}
        and limit is not None
        and len(content) > limit
    ):
        raise AwsError(
            code, f"Content is too long: {len(content)} characters exceed the limit of {limit}"
        )
    if content_type in {"application/json", INTERACTIVE, INTERACTIVE_RESPONSE}:
        try:
            json.loads(content)
        except json.JSONDecodeError as exc:
            raise AwsError(code, f"Content is not valid JSON for {content_type}") from exc


def _content_json(content: str | None, content_type: str) -> dict[str, Any]:
    try:
        decoded = json.loads(content or "")
    except json.JSONDecodeError:
        decoded = None
    if not isinstance(decoded, dict) or not isinstance(decoded.get("messageId"), str):
        raise AwsError(
            _VALIDATION, f'Content of {content_type} must be JSON {{"messageId": "<item id>"}}'
        )
    return decoded


def apply_receipt(
    chat: Chat, recipient: Participant, content_type: str, message_id: str, now: float
) -> None:
    target = chat.find_item(message_id)
    if target is None:
        return
    stamps = target.receipts.setdefault(recipient.participant_id, {})
    stamps["DeliveredTimestamp"] = stamps.get("DeliveredTimestamp", iso_ms(now))
    if content_type == READ:
        stamps["ReadTimestamp"] = iso_ms(now)


async def authorize(hub: ChatHub, connection_token: str) -> Connection:
    """The live connection a ConnectionToken stands for, or AccessDeniedException."""
    await hub.refresh()
    connection = hub.store.connection(connection_token)
    if connection is None:
        raise AwsError(_ACCESS_DENIED, "Access denied: the connection token is not valid")
    if connection.expires_at <= hub.now():
        raise AwsError(_ACCESS_DENIED, "Access denied: the connection token has expired")
    if not connection.chat.active:
        raise AwsError(_ACCESS_DENIED, "Access denied: the chat has ended")
    return connection


class ParticipantApi:
    def __init__(self, *, hub: ChatHub) -> None:
        self._hub = hub

    async def create_participant_connection(self, params: dict[str, Any]) -> dict[str, Any]:
        await self._hub.refresh()
        token: str = params["ParticipantToken"]
        chat = self._hub.store.by_participant_token(token)
        participant = None if chat is None else chat.participant_for(token)
        if chat is None or participant is None or not chat.active:
            raise AwsError(_ACCESS_DENIED, "Access denied: the participant token is not valid")
        now = self._hub.now()
        if (
            participant is chat.customer
            and chat.first_connection_at is None
            and now > chat.started_at + self._hub.config.connect_window_s
        ):
            await self._hub.emit(chat, chat.end(now, EndReason.NEVER_CONNECTED))
            raise AwsError(
                _ACCESS_DENIED,
                "Access denied: the participant did not connect within 5 minutes and the "
                "chat has ended",
            )
        types: list[str] = params.get("Type", [])
        connect_participant = bool(params.get("ConnectParticipant"))
        if not types and not connect_participant:
            raise AwsError(_VALIDATION, "Type is required unless ConnectParticipant is true")
        if "WEBRTC_CONNECTION" in types:
            raise AwsError(_VALIDATION, "WEBRTC_CONNECTION is not available for chat contacts")
        response = connection_response(self._hub, chat, types, participant)
        # ConnectParticipant marks the streaming customer connected; an added bot joined
        # when CreateParticipant added it.
        if connect_participant and participant is chat.customer:
            await self._hub.emit(chat, mark_connected(self._hub, chat))
        return response

    async def send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        connection = await authorize(self._hub, params["ConnectionToken"])
        chat = connection.chat
        token: str | None = params.get("ClientToken")
        remembered = chat.recall("SendMessage", token)
        if remembered is not None:
            return self._item_answer(chat, remembered)
        content_type: str = params["ContentType"]
        if content_type not in MESSAGE_TYPES:
            raise AwsError(_VALIDATION, f"ContentType {content_type} is not supported")
        content: str = params["Content"]
        check_text(content_type, content, self._hub.config.connect_text_limit, code=_VALIDATION)
        item = chat.append(
            self._hub.now(),
            kind="MESSAGE",
            participant=connection.participant,
            content_type=content_type,
            content=content,
            client_token=token,
        )
        chat.remember("SendMessage", token, item.item_id)
        await self._hub.emit(chat, [item])
        return {"Id": item.item_id, "AbsoluteTime": iso_ms(item.time)}

    @staticmethod
    def _item_answer(chat: Chat, item_id: str) -> dict[str, Any]:
        item = chat.find_item(item_id)
        time = item.time if item is not None else chat.started_at
        return {"Id": item_id, "AbsoluteTime": iso_ms(time)}

    async def send_event(self, params: dict[str, Any]) -> dict[str, Any]:
        connection = await authorize(self._hub, params["ConnectionToken"])
        chat = connection.chat
        token: str | None = params.get("ClientToken")
        remembered = chat.recall("SendEvent", token)
        if remembered is not None:
            return self._item_answer(chat, remembered)
        content_type: str = params["ContentType"]
        if content_type not in EVENT_TYPES:
            raise AwsError(_VALIDATION, f"ContentType {content_type} is not supported")
        content: str | None = params.get("Content")
        now = self._hub.now()
        items: list[Item] = []
        if content_type == CONNECTION_ACK and connection.participant is chat.customer:
            items += mark_connected(self._hub, chat)
        if content_type in {DELIVERED, READ}:
            receipt = _content_json(content, content_type)
            apply_receipt(chat, connection.participant, content_type, receipt["messageId"], now)
        item = chat.append(
            now,
            kind="EVENT",
            participant=connection.participant,
            content_type=content_type,
            content=content,
            client_token=token,
            visibility=visibility_for(connection.participant.role, content_type),
        )
        items.append(item)
        chat.remember("SendEvent", token, item.item_id)
        await self._hub.emit(chat, items)
        return {"Id": item.item_id, "AbsoluteTime": iso_ms(item.time)}

    async def disconnect_participant(self, params: dict[str, Any]) -> dict[str, Any]:
        connection = await authorize(self._hub, params["ConnectionToken"])
        chat = connection.chat
        now = self._hub.now()
        connection.participant.left_at = now
        items = [
            chat.append(now, kind="EVENT", participant=connection.participant, content_type=LEFT)
        ]
        items += chat.end(now, EndReason.CUSTOMER_DISCONNECTED)
        chat.remember("DisconnectParticipant", params.get("ClientToken"), items[-1].item_id)
        await self._hub.emit(chat, items)
        return {}

    async def get_transcript(self, params: dict[str, Any]) -> dict[str, Any]:
        connection = await authorize(self._hub, params["ConnectionToken"])
        chat = connection.chat
        contact_id: str | None = params.get("ContactId")
        if contact_id is not None and contact_id not in chat.contact_ids:
            raise AwsError(_VALIDATION, "ContactId does not belong to this chat")
        items = [
            item
            for item in chat.items
            if item.kind in {"MESSAGE", "ATTACHMENT"} or item.content_type in _TRANSCRIPT_EVENTS
        ]
        window = _scan(items, params)
        offset = decode_offset(params.get("NextToken"), error_code=_VALIDATION)
        size: int = params.get("MaxResults", _DEFAULT_PAGE)
        page = window[offset : offset + size]
        page.sort(key=lambda item: item.time, reverse=params.get("SortOrder") == "DESCENDING")
        more = offset + size < len(window)
        return {
            "InitialContactId": chat.initial_contact_id,
            "Transcript": [item.wire() for item in page],
            "NextToken": encode_offset(offset + size) if more else None,
        }


def _scan(items: list[Item], params: dict[str, Any]) -> list[Item]:
    """Items in scan order from the start position (BACKWARD: newest first, the default)."""
    forward = params.get("ScanDirection") == "FORWARD"
    start: dict[str, Any] | None = params.get("StartPosition")
    if not start:
        return list(items) if forward else list(reversed(items))
    index = len(items) - 1 if not forward else 0
    if "Id" in start:
        index = next((i for i, item in enumerate(items) if item.item_id == start["Id"]), -1)
        if index < 0:
            raise AwsError(_VALIDATION, "StartPosition Id not found in the transcript")
    elif "MostRecent" in start:
        index = max(len(items) - 1 - int(start["MostRecent"]), 0)
    elif "AbsoluteTime" in start:
        wanted = str(start["AbsoluteTime"])
        index = next((i for i, item in enumerate(items) if iso_ms(item.time) >= wanted), len(items))
    return items[index:] if forward else list(reversed(items[: index + 1]))
