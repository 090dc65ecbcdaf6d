"""The `connect` operations the bridge calls: StartChatContact, CreateParticipant and
contact streaming."""

from __future__ import annotations

import re
from typing import Any, Final

from service.local.sim.chat import (
    CUSTOM_BOT,
    CUSTOMER,
    INTERACTIVE,
    INTERACTIVE_RESPONSE,
    JOINED,
    Chat,
    EndReason,
    Item,
    Participant,
    Stream,
    new_id,
    new_token,
)
from service.local.sim.clock import iso_ms
from service.local.sim.errors import AwsError
from service.local.sim.hub import ChatHub
from service.local.sim.participant import check_text, connection_response, mark_connected

_ATTRIBUTES_MAX_BYTES: Final = 32768
_MAX_STREAMS: Final = 2
_SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_SUPPORTED_TYPES: Final = frozenset(
    {"text/plain", "text/markdown", "application/json", INTERACTIVE, INTERACTIVE_RESPONSE}
)
INITIAL_MESSAGE_TYPES: Final = frozenset({"text/plain", "text/markdown", "application/json"})

_INVALID_PARAMETER: Final = "InvalidParameterException"
_INVALID_REQUEST: Final = "InvalidRequestException"
_NOT_FOUND: Final = "ResourceNotFoundException"


def _last_segment(identifier: str) -> str:
    """`InstanceId` / `ContactFlowId` may be given as the id or as its ARN."""
    return identifier.rsplit("/", 1)[-1]


class ConnectApi:
    def __init__(self, *, hub: ChatHub, instance_id: str, contact_flow_id: str) -> None:
        self._hub = hub
        self._instance_id = instance_id
        self._contact_flow_id = contact_flow_id

    def _check_instance(self, instance_id: str) -> None:
        if _last_segment(instance_id) != self._instance_id:
            raise AwsError(_NOT_FOUND, "Instance not found")

    def _chat(self, contact_id: str) -> Chat:
        chat = self._hub.store.by_contact(contact_id)
        if chat is None:
            raise AwsError(_NOT_FOUND, "Contact not found")
        return chat

    async def start_chat_contact(self, params: dict[str, Any]) -> dict[str, Any]:
        await self._hub.refresh()
        token: str | None = params.get("ClientToken")
        existing = self._hub.store.by_start_token(token)
        if existing is not None:
            return {
                "ContactId": existing.initial_contact_id,
                "ParticipantId": existing.customer.participant_id,
                "ParticipantToken": existing.participant_token,
                "ContinuedFromContactId": existing.continued_from,
            }
        self._check_instance(params["InstanceId"])
        if _last_segment(params["ContactFlowId"]) != self._contact_flow_id:
            raise AwsError(_NOT_FOUND, "Contact flow not found")
        self._check_start_inputs(params)
        continued_from = self._continued_from(params)
        config = self._hub.config
        if self._hub.store.active_count() >= config.max_active_chats:
            raise AwsError(
                "LimitExceededException",
                "The concurrent active chats quota of the instance has been reached",
            )

        now = self._hub.now()
        duration_min: int = params.get(
            "ChatDurationInMinutes", config.default_chat_duration_minutes
        )
        chat = Chat(
            initial_contact_id=new_id(),
            instance_id=self._instance_id,
            contact_flow_id=self._contact_flow_id,
            customer=Participant(new_id(), CUSTOMER, params["ParticipantDetails"]["DisplayName"]),
            participant_token=new_token("ptok-"),
            started_at=now,
            ends_at=now + duration_min * 60,
            attributes=dict(params.get("Attributes", {})),
            supported_content_types=list(params.get("SupportedMessagingContentTypes", [])),
            customer_id=params.get("CustomerId"),
            continued_from=continued_from,
        )
        self._hub.store.add(chat, token)
        chat.remember("StartChatContact", token, chat.initial_contact_id)
        response: dict[str, Any] = {
            "ContactId": chat.initial_contact_id,
            "ParticipantId": chat.customer.participant_id,
            "ParticipantToken": chat.participant_token,
            "ContinuedFromContactId": continued_from,
        }
        streaming = params.get("ChatStreamingConfiguration")
        if streaming is not None:
            response["StreamingId"] = self._add_stream(
                chat, streaming["StreamingEndpointArn"], token or new_id()
            ).streaming_id
        items: list[Item] = []
        initial = params.get("InitialMessage")
        if initial is not None:
            items.append(
                chat.append(
                    now,
                    kind="MESSAGE",
                    participant=chat.customer,
                    content_type=initial["ContentType"],
                    content=initial["Content"],
                )
            )
        connection_types: list[str] = params.get("ConnectionTypes", [])
        if connection_types:
            items += mark_connected(self._hub, chat)
            response.update(connection_response(self._hub, chat, connection_types))
        await self._hub.emit(chat, items)
        return response

    async def create_participant(self, params: dict[str, Any]) -> dict[str, Any]:
        """A participant added to a live chat: for chat contacts only `CUSTOM_BOT` (botocore's
        documentation of `ParticipantDetails`). It gets its own participant token (for
        CreateParticipantConnection), joins at once, and its items carry its role and name.
        """
        await self._hub.refresh()
        self._check_instance(params["InstanceId"])
        chat = self._chat(params["ContactId"])
        token: str | None = params.get("ClientToken")
        remembered = chat.recall("CreateParticipant", token)
        if remembered is not None:
            return self._participant_answer(chat, remembered)
        details: dict[str, Any] = params["ParticipantDetails"]
        if details.get("ParticipantRole") != CUSTOM_BOT:
            raise AwsError(
                _INVALID_REQUEST, "The only valid ParticipantRole for a chat contact is CUSTOM_BOT"
            )
        if details.get("ParticipantCapabilities") is not None:
            raise AwsError(_INVALID_REQUEST, "ParticipantCapabilities apply to WebRTC calls only")
        if not chat.active:
            raise AwsError(_INVALID_REQUEST, "The contact is not active")
        now = self._hub.now()
        # Assumed: Connect's default name for a bot added without one is not documented.
        bot = Participant(new_id(), CUSTOM_BOT, details.get("DisplayName") or "BOT", joined_at=now)
        participant_token = new_token("ptok-")
        chat.bots[participant_token] = bot
        self._hub.store.add_participant_token(chat, participant_token)
        chat.remember("CreateParticipant", token, participant_token)
        joined = chat.append(now, kind="EVENT", participant=bot, content_type=JOINED)
        await self._hub.emit(chat, [joined])
        return self._participant_answer(chat, participant_token)

    def _participant_answer(self, chat: Chat, participant_token: str) -> dict[str, Any]:
        bot = chat.bots[participant_token]
        return {
            "ParticipantId": bot.participant_id,
            # The participant token lives as long as the chat (botocore's documentation).
            "ParticipantCredentials": {
                "ParticipantToken": participant_token,
                "Expiry": iso_ms(chat.ends_at),
            },
        }

    def _check_start_inputs(self, params: dict[str, Any]) -> None:
        supported: list[str] | None = params.get("SupportedMessagingContentTypes")
        if supported is not None:
            unknown = sorted(set(supported) - _SUPPORTED_TYPES)
            if unknown or "text/plain" not in supported:
                raise AwsError(
                    _INVALID_PARAMETER,
                    "SupportedMessagingContentTypes must include text/plain and only supported "
                    f"types; unsupported: {unknown}",
                )
        attributes: dict[str, str] = params.get("Attributes", {})
        size = sum(len(key.encode()) + len(value.encode()) for key, value in attributes.items())
        if size > _ATTRIBUTES_MAX_BYTES:
            raise AwsError(_INVALID_PARAMETER, "Attributes exceed 32768 bytes in total")
        initial: dict[str, str] | None = params.get("InitialMessage")
        if initial is not None:
            if initial["ContentType"] not in INITIAL_MESSAGE_TYPES:
                raise AwsError(
                    _INVALID_PARAMETER,
                    f"InitialMessage ContentType {initial['ContentType']} is not supported",
                )
            check_text(
                initial["ContentType"],
                initial["Content"],
                self._hub.config.connect_text_limit,
                code=_INVALID_PARAMETER,
            )

    def _continued_from(self, params: dict[str, Any]) -> str | None:
        persistent: dict[str, str] | None = params.get("PersistentChat")
        if persistent is None:
            return None
        if params.get("RelatedContactId") is not None:
            raise AwsError(
                _INVALID_REQUEST, "PersistentChat and RelatedContactId cannot be used together"
            )
        source = persistent.get("SourceContactId")
        if source is None:
            raise AwsError(_INVALID_PARAMETER, "PersistentChat requires SourceContactId")
        previous = self._chat(source)
        if previous.active:
            raise AwsError(_INVALID_REQUEST, "The source contact of a persistent chat must end")
        return source

    def _add_stream(self, chat: Chat, topic_arn: str, client_token: str) -> Stream:
        if not _SNS_TOPIC_ARN.match(topic_arn):
            raise AwsError(
                _INVALID_PARAMETER,
                "StreamingEndpointArn must be the ARN of a standard SNS topic"
                + (" (FIFO topics are not supported)" if topic_arn.endswith(".fifo") else ""),
            )
        for stream in chat.streams.values():
            if stream.active and stream.topic_arn == topic_arn:
                return stream
        if len(chat.active_topics()) >= _MAX_STREAMS:
            raise AwsError("LimitExceededException", "A chat can stream to at most 2 endpoints")
        stream = Stream(new_id(), topic_arn, client_token, self._hub.now())
        chat.streams[stream.streaming_id] = stream
        return stream

    async def start_contact_streaming(self, params: dict[str, Any]) -> dict[str, Any]:
        await self._hub.refresh()
        self._check_instance(params["InstanceId"])
        chat = self._chat(params["ContactId"])
        token: str = params["ClientToken"]
        remembered = chat.recall("StartContactStreaming", token)
        if remembered is not None:
            return {"StreamingId": remembered}
        if not chat.active:
            raise AwsError(_INVALID_REQUEST, "The contact is not active")
        stream = self._add_stream(
            chat, params["ChatStreamingConfiguration"]["StreamingEndpointArn"], token
        )
        chat.remember("StartContactStreaming", token, stream.streaming_id)
        if self._hub.config.flow_ends_new_chats and chat.first_connection_at is None:
            await self._hub.emit(chat, chat.end(self._hub.now(), EndReason.FLOW_DISCONNECTED))
        return {"StreamingId": stream.streaming_id}

    async def stop_contact_streaming(self, params: dict[str, Any]) -> dict[str, Any]:
        await self._hub.refresh()
        self._check_instance(params["InstanceId"])
        chat = self._chat(params["ContactId"])
        stream = chat.streams.get(params["StreamingId"])
        if stream is None:
            raise AwsError(_NOT_FOUND, "Streaming id not found for this contact")
        stream.active = False
        return {}
