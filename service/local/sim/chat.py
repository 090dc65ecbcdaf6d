"""State of the simulated Amazon Connect chats: contacts, participants, transcript items.

One `Chat` per chat conversation, keyed by its InitialContactId: a transfer gives the chat a
new ContactId but the customer's participant, tokens and transcript carry on, as in Connect.
Pure state; the operations live in `connect`, `participant` and `agent`.
"""

from __future__ import annotations

import math
import secrets
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from service.local.sim.clock import iso_ms

EVENT: Final = "application/vnd.amazonaws.connect.event."
JOINED: Final = EVENT + "participant.joined"
LEFT: Final = EVENT + "participant.left"
CHAT_ENDED: Final = EVENT + "chat.ended"
TYPING: Final = EVENT + "typing"
DELIVERED: Final = EVENT + "message.delivered"
READ: Final = EVENT + "message.read"
CONNECTION_ACK: Final = EVENT + "connection.acknowledged"
TRANSFER_SUCCEEDED: Final = EVENT + "transfer.succeeded"
INTERACTIVE: Final = "application/vnd.amazonaws.connect.message.interactive"
INTERACTIVE_RESPONSE: Final = INTERACTIVE + ".response"

CUSTOMER: Final = "CUSTOMER"
AGENT: Final = "AGENT"
SYSTEM: Final = "SYSTEM"
CUSTOM_BOT: Final = "CUSTOM_BOT"


class ChatState(StrEnum):
    INITIATED = "INITIATED"  # started, customer not connected yet
    CONNECTED = "CONNECTED"
    ENDED = "ENDED"


class EndReason(StrEnum):
    AGENT_ENDED = "AGENT_ENDED"
    CUSTOMER_DISCONNECTED = "CUSTOMER_DISCONNECTED"
    DURATION_EXPIRED = "DURATION_EXPIRED"
    NEVER_CONNECTED = "NEVER_CONNECTED"
    FLOW_DISCONNECTED = "FLOW_DISCONNECTED"


def new_id() -> str:
    return str(uuid.uuid4())


def new_token(prefix: str) -> str:
    return f"{prefix}{secrets.token_urlsafe(48)}"


@dataclass(slots=True)
class Participant:
    participant_id: str
    role: str
    display_name: str
    joined_at: float | None = None
    left_at: float | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "participantId": self.participant_id,
            "role": self.role,
            "displayName": self.display_name,
            "joinedAt": None if self.joined_at is None else iso_ms(self.joined_at),
            "leftAt": None if self.left_at is None else iso_ms(self.left_at),
        }


@dataclass(slots=True)
class Attachment:
    attachment_id: str
    name: str
    content_type: str
    size: int
    uploader: Participant
    client_token: str | None
    upload_expires_at: float
    upload_token: str = ""
    data: bytes | None = None
    status: str = "IN_PROGRESS"
    completed_token: str | None = None

    def wire(self) -> dict[str, Any]:
        return {
            "AttachmentId": self.attachment_id,
            "AttachmentName": self.name,
            "ContentType": self.content_type,
            "Status": self.status,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "attachmentId": self.attachment_id,
            "name": self.name,
            "contentType": self.content_type,
            "size": self.size,
            "status": self.status,
            "uploaded": self.data is not None,
        }


@dataclass(slots=True)
class Item:
    item_id: str
    kind: str  # the Item `Type`: MESSAGE, EVENT or ATTACHMENT
    time: float
    contact_id: str
    participant: Participant | None
    content_type: str | None
    content: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    client_token: str | None = None
    visibility: str = "ALL"
    # Streaming topics active when the item was appended: only those receive it.
    topics: tuple[str, ...] = ()
    receipts: dict[str, dict[str, str]] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        """The Participant Service `Item` shape."""
        item: dict[str, Any] = {
            "AbsoluteTime": iso_ms(self.time),
            "Id": self.item_id,
            "Type": self.kind,
            "ContactId": self.contact_id,
        }
        if self.content_type is not None:
            item["ContentType"] = self.content_type
        if self.content is not None:
            item["Content"] = self.content
        if self.participant is not None:
            item["ParticipantId"] = self.participant.participant_id
            item["DisplayName"] = self.participant.display_name
            item["ParticipantRole"] = self.participant.role
        if self.attachments:
            item["Attachments"] = [attachment.wire() for attachment in self.attachments]
        if self.receipts:
            item["MessageMetadata"] = {
                "MessageId": self.item_id,
                "Receipts": [
                    {"RecipientParticipantId": recipient, **stamps}
                    for recipient, stamps in self.receipts.items()
                ],
            }
        return item

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.item_id,
            "type": self.kind,
            "contactId": self.contact_id,
            "participantRole": None if self.participant is None else self.participant.role,
            "participantId": None if self.participant is None else self.participant.participant_id,
            "displayName": None if self.participant is None else self.participant.display_name,
            "contentType": self.content_type,
            "content": self.content,
            "attachments": [attachment.describe() for attachment in self.attachments],
            "time": iso_ms(self.time),
            "clientToken": self.client_token,
            "visibility": self.visibility,
            "streamedTo": list(self.topics),
            "receipts": dict(self.receipts),
        }


@dataclass(slots=True)
class Stream:
    streaming_id: str
    topic_arn: str
    client_token: str
    started_at: float
    active: bool = True

    def describe(self) -> dict[str, Any]:
        return {
            "streamingId": self.streaming_id,
            "topicArn": self.topic_arn,
            "active": self.active,
            "startedAt": iso_ms(self.started_at),
        }


@dataclass(slots=True)
class Chat:
    initial_contact_id: str
    instance_id: str
    contact_flow_id: str
    customer: Participant
    participant_token: str
    started_at: float
    ends_at: float
    attributes: dict[str, str]
    supported_content_types: list[str]
    customer_id: str | None = None
    continued_from: str | None = None
    contact_ids: list[str] = field(default_factory=list)
    state: ChatState = ChatState.INITIATED
    agent: Participant | None = None
    past_agents: list[Participant] = field(default_factory=list)
    # Participants added by CreateParticipant (CUSTOM_BOT), by their participant token.
    bots: dict[str, Participant] = field(default_factory=dict)
    first_connection_at: float | None = None
    ended_at: float | None = None
    end_reason: EndReason | None = None
    streams: dict[str, Stream] = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)
    attachments: dict[str, Attachment] = field(default_factory=dict)
    # Operation → ClientToken → the result it produced, for idempotent retries.
    idempotency: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.contact_ids:
            self.contact_ids.append(self.initial_contact_id)

    @property
    def contact_id(self) -> str:
        return self.contact_ids[-1]

    @property
    def active(self) -> bool:
        return self.state is not ChatState.ENDED

    def active_topics(self) -> tuple[str, ...]:
        return tuple(stream.topic_arn for stream in self.streams.values() if stream.active)

    def recall(self, operation: str, client_token: str | None) -> str | None:
        if client_token is None:
            return None
        return self.idempotency.get(operation, {}).get(client_token)

    def remember(self, operation: str, client_token: str | None, result: str) -> None:
        if client_token is not None:
            self.idempotency.setdefault(operation, {})[client_token] = result

    def participant_for(self, participant_token: str) -> Participant | None:
        """Whose participant token this is: the customer's or an added bot's."""
        if participant_token == self.participant_token:
            return self.customer
        return self.bots.get(participant_token)

    def find_item(self, item_id: str) -> Item | None:
        return next((item for item in self.items if item.item_id == item_id), None)

    def append(
        self,
        now: float,
        *,
        kind: str,
        participant: Participant | None,
        content_type: str | None,
        content: str | None = None,
        attachments: list[Attachment] | None = None,
        client_token: str | None = None,
        visibility: str = "ALL",
    ) -> Item:
        item = Item(
            item_id=new_id(),
            kind=kind,
            time=now,
            contact_id=self.contact_id,
            participant=participant,
            content_type=content_type,
            content=content,
            attachments=attachments or [],
            client_token=client_token,
            visibility=visibility,
            topics=self.active_topics(),
        )
        self.items.append(item)
        return item

    def end(self, now: float, reason: EndReason) -> list[Item]:
        """End the chat: the agent (if present) leaves, then `chat.ended` (no participant)."""
        if not self.active:
            return []
        items: list[Item] = []
        if self.agent is not None and self.agent.left_at is None:
            self.agent.left_at = now
            items.append(self.append(now, kind="EVENT", participant=self.agent, content_type=LEFT))
        items.append(self.append(now, kind="EVENT", participant=None, content_type=CHAT_ENDED))
        self.state = ChatState.ENDED
        self.ended_at = now
        self.end_reason = reason
        return items

    def describe(self) -> dict[str, Any]:
        participants = [self.customer, *self.bots.values(), *self.past_agents]
        if self.agent is not None:
            participants.append(self.agent)
        return {
            "contactId": self.contact_id,
            "initialContactId": self.initial_contact_id,
            "contactIds": list(self.contact_ids),
            "instanceId": self.instance_id,
            "contactFlowId": self.contact_flow_id,
            "attributes": dict(self.attributes),
            "customerId": self.customer_id,
            "continuedFromContactId": self.continued_from,
            "state": self.state.value,
            "endReason": None if self.end_reason is None else self.end_reason.value,
            "startedAt": iso_ms(self.started_at),
            "endsAt": iso_ms(self.ends_at),
            "endedAt": None if self.ended_at is None else iso_ms(self.ended_at),
            "participants": [participant.describe() for participant in participants],
            "streaming": [stream.describe() for stream in self.streams.values()],
            "transcript": [item.describe() for item in self.items],
            "attachments": [attachment.describe() for attachment in self.attachments.values()],
            "clientTokens": {
                operation: list(tokens) for operation, tokens in self.idempotency.items()
            },
        }


@dataclass(slots=True)
class Connection:
    token: str
    chat: Chat
    participant: Participant
    expires_at: float


@dataclass(slots=True)
class DownloadGrant:
    attachment: Attachment
    expires_at: float


class ChatStore:
    """Every chat and the tokens that reach it."""

    def __init__(self) -> None:
        self._chats: dict[str, Chat] = {}
        self._by_contact: dict[str, Chat] = {}
        self._by_participant_token: dict[str, Chat] = {}
        self._connections: dict[str, Connection] = {}
        self._start_tokens: dict[str, Chat] = {}
        self._attachments: dict[str, tuple[Chat, Attachment]] = {}
        self._downloads: dict[str, DownloadGrant] = {}
        # Earliest end of any active chat: most calls then skip the scan for expired chats.
        self._earliest_end = math.inf

    def chats(self) -> list[Chat]:
        return list(self._chats.values())

    def add(self, chat: Chat, client_token: str | None) -> None:
        self._chats[chat.initial_contact_id] = chat
        self._by_contact[chat.initial_contact_id] = chat
        self._by_participant_token[chat.participant_token] = chat
        if client_token is not None:
            self._start_tokens[client_token] = chat
        self._earliest_end = min(self._earliest_end, chat.ends_at)

    def due(self, now: float) -> list[Chat]:
        """Active chats whose duration has passed at `now`."""
        if now < self._earliest_end:
            return []
        active = [chat for chat in self._chats.values() if chat.active]
        due = [chat for chat in active if chat.ends_at <= now]
        self._earliest_end = min(
            (chat.ends_at for chat in active if chat.ends_at > now), default=math.inf
        )
        return due

    def by_start_token(self, client_token: str | None) -> Chat | None:
        return None if client_token is None else self._start_tokens.get(client_token)

    def by_contact(self, contact_id: str) -> Chat | None:
        return self._by_contact.get(contact_id)

    def by_participant_token(self, token: str) -> Chat | None:
        return self._by_participant_token.get(token)

    def add_participant_token(self, chat: Chat, token: str) -> None:
        self._by_participant_token[token] = chat

    def add_contact_id(self, chat: Chat, contact_id: str) -> None:
        chat.contact_ids.append(contact_id)
        self._by_contact[contact_id] = chat

    def active_count(self) -> int:
        return sum(1 for chat in self._chats.values() if chat.active)

    def connect(self, chat: Chat, participant: Participant, expires_at: float) -> Connection:
        connection = Connection(new_token("ctok-"), chat, participant, expires_at)
        self._connections[connection.token] = connection
        return connection

    def connection(self, token: str) -> Connection | None:
        return self._connections.get(token)

    def expire_connections(self, now: float) -> int:
        count = 0
        for connection in self._connections.values():
            if connection.expires_at > now:
                connection.expires_at = now
                count += 1
        return count

    def add_attachment(self, chat: Chat, attachment: Attachment) -> None:
        chat.attachments[attachment.attachment_id] = attachment
        self._attachments[attachment.attachment_id] = (chat, attachment)

    def attachment(self, attachment_id: str) -> tuple[Chat, Attachment] | None:
        return self._attachments.get(attachment_id)

    def grant_download(self, attachment: Attachment, expires_at: float) -> str:
        token = secrets.token_urlsafe(24)
        self._downloads[token] = DownloadGrant(attachment, expires_at)
        return token

    def download(self, token: str) -> DownloadGrant | None:
        return self._downloads.get(token)

    def clear(self) -> None:
        self._chats.clear()
        self._by_contact.clear()
        self._by_participant_token.clear()
        self._connections.clear()
        self._start_tokens.clear()
        self._attachments.clear()
        self._downloads.clear()
        self._earliest_end = math.inf
