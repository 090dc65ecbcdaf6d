"""Amazon Connect Chat adapter: the Connect and Participant calls the bridge makes.

Each method is one API call (attachments: three steps), paced by the client-side rate
limiter and translated into `service.errors`. The caller owns the decisions (when to
start a chat, what to send, retries) and passes a deterministic `client_token` so a retried
call is absorbed by Connect instead of repeated.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

import aiohttp
import structlog
from yarl import URL

from service.aws_errors import translated
from service.bridge.events import content_types as ct
from service.call_errors import CallErrors
from service.errors import (
    AttachmentRejectedError,
    DependencyUnavailableError,
    InvalidRequestError,
)

if TYPE_CHECKING:
    from types_aiobotocore_connect import ConnectClient
    from types_aiobotocore_connect.type_defs import StartChatContactRequestTypeDef
    from types_aiobotocore_connectparticipant import ConnectParticipantClient
    from types_aiobotocore_connectparticipant.type_defs import ItemTypeDef

log = structlog.get_logger(__name__)

ATTRIBUTES_MAX_BYTES: Final = 32768
DISPLAY_NAME_MAX_CHARS: Final = 256
DEFAULT_DISPLAY_NAME: Final = "Customer"
CUSTOMER_ID_MAX_CHARS: Final = 128
CHAT_DURATION_MINUTES: Final = range(60, 10080 + 1)
_ELLIPSIS: Final = "…"
_HTTP_SERVER_ERROR: Final = 500
_HTTP_CLIENT_ERROR: Final = 400
_PARTICIPANT: Final = "connectparticipant"
_SLOWEST_UPLOAD_BYTES_PER_S: Final = 256 * 1024
# Connect Service quotas are per account and Region, Participant Service quotas per instance.
ACCOUNT_SCOPE: Final = "account"


class CallPacer(Protocol):
    """Client-side pacing below Connect's quotas (`policy.ratelimit.ConnectRateLimits`)."""

    async def acquire(self, api: str, scope: str) -> None: ...

    async def acquire_within(self, api: str, scope: str, max_wait_s: float) -> bool: ...


@dataclass(frozen=True, slots=True)
class StartedChat:
    contact_id: str
    participant_id: str
    participant_token: str


@dataclass(frozen=True, slots=True)
class Connection:
    connection_token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SentItem:
    id: str
    absolute_time: datetime | None


@dataclass(frozen=True, slots=True)
class AttachmentDownload:
    url: str
    size: int | None


@dataclass(frozen=True, slots=True)
class TranscriptPage:
    items: list[ItemTypeDef]
    next_token: str | None


class ConnectChat:
    """Calls for one Connect instance as its chat customer participant.

    `participant_scope` names the instance whose Participant Service quotas the
    participant calls spend (they are per instance; their requests carry no instance id).
    """

    def __init__(
        self,
        *,
        connect: ConnectClient,
        participant: ConnectParticipantClient,
        limits: CallPacer,
        streaming_topic_arn: str,
        participant_scope: str,
        http: aiohttp.ClientSession,
        upload_timeout_s: float = 60.0,
        supported_content_types: Sequence[str] = ct.SUPPORTED_BY_BRIDGE,
        errors: CallErrors | None = None,
    ) -> None:
        if "text/plain" not in supported_content_types:
            raise ValueError("Connect requires text/plain among the supported content types")
        self._connect = connect
        self._participant = participant
        self._limits = limits
        self._topic_arn = streaming_topic_arn
        self._scope = participant_scope
        self._http = http
        self._upload_timeout_s = upload_timeout_s
        self._content_types = list(supported_content_types)
        self._errors = errors

    async def start_chat(
        self,
        *,
        instance_id: str,
        contact_flow_id: str,
        display_name: str,
        attributes: Mapping[str, str],
        initial_message: str | None,
        chat_duration_minutes: int | None,
        client_token: str,
        customer_id: str | None = None,
        initial_content_type: str = "text/plain",
    ) -> StartedChat:
        if chat_duration_minutes is not None and chat_duration_minutes not in CHAT_DURATION_MINUTES:
            raise ValueError("chat_duration_minutes must be within 60..10080")
        request: StartChatContactRequestTypeDef = {
            "InstanceId": instance_id,
            "ContactFlowId": contact_flow_id,
            "ParticipantDetails": {"DisplayName": clamp_display_name(display_name)},
            "Attributes": fit_attributes(attributes),
            "ClientToken": client_token,
            "SupportedMessagingContentTypes": self._content_types,
        }
        if initial_message is not None:
            request["InitialMessage"] = {
                "ContentType": initial_content_type,
                "Content": initial_message,
            }
        if chat_duration_minutes is not None:
            request["ChatDurationInMinutes"] = chat_duration_minutes
        if customer_id is not None:
            request["CustomerId"] = customer_id[:CUSTOMER_ID_MAX_CHARS]
        await self._limits.acquire("StartChatContact", ACCOUNT_SCOPE)
        with translated("connect", "StartChatContact", self._errors):
            response = await self._connect.start_chat_contact(**request)
        log.info("connect_chat_started", contact_id=response["ContactId"])
        return StartedChat(
            contact_id=response["ContactId"],
            participant_id=response["ParticipantId"],
            participant_token=response["ParticipantToken"],
        )

    async def add_bot(
        self, *, instance_id: str, contact_id: str, display_name: str, client_token: str
    ) -> StartedChat:
        """Add a `CUSTOM_BOT` participant to a live chat (the only role Connect lets a chat
        contact add); its token is the bot's own, for `create_connection`."""
        await self._limits.acquire("CreateParticipant", ACCOUNT_SCOPE)
        with translated("connect", "CreateParticipant", self._errors):
            response = await self._connect.create_participant(
                InstanceId=instance_id,
                ContactId=contact_id,
                ParticipantDetails={
                    "ParticipantRole": "CUSTOM_BOT",
                    "DisplayName": clamp_display_name(display_name),
                },
                ClientToken=client_token,
            )
        token = response.get("ParticipantCredentials", {}).get("ParticipantToken")
        participant_id = response.get("ParticipantId")
        if not token or not participant_id:
            raise DependencyUnavailableError("CreateParticipant returned no participant token")
        log.info("connect_bot_added", contact_id=contact_id, participant_id=participant_id)
        return StartedChat(
            contact_id=contact_id, participant_id=participant_id, participant_token=token
        )

    async def start_streaming(self, *, instance_id: str, contact_id: str, client_token: str) -> str:
        await self._limits.acquire("StartContactStreaming", ACCOUNT_SCOPE)
        with translated("connect", "StartContactStreaming", self._errors):
            response = await self._connect.start_contact_streaming(
                InstanceId=instance_id,
                ContactId=contact_id,
                ChatStreamingConfiguration={"StreamingEndpointArn": self._topic_arn},
                ClientToken=client_token,
            )
        return response["StreamingId"]

    async def create_connection(
        self, *, participant_token: str, connect_participant: bool = True
    ) -> Connection:
        """A connection for a participant token. `connect_participant` marks the streaming
        customer connected (DESIGN §6); the bridge's bot participant does not take it."""
        await self._limits.acquire("CreateParticipantConnection", self._scope)
        with translated(_PARTICIPANT, "CreateParticipantConnection", self._errors):
            response = await self._participant.create_participant_connection(
                ParticipantToken=participant_token,
                Type=["CONNECTION_CREDENTIALS"],
                ConnectParticipant=connect_participant,
            )
        credentials = response.get("ConnectionCredentials", {})
        token = credentials.get("ConnectionToken")
        expiry = credentials.get("Expiry")
        if not token or not expiry:
            raise DependencyUnavailableError("CreateParticipantConnection returned no credentials")
        return Connection(connection_token=token, expires_at=_parse_time(expiry))

    async def send_message(
        self,
        *,
        connection_token: str,
        content: str,
        client_token: str,
        content_type: str = "text/plain",
    ) -> SentItem:
        await self._limits.acquire("SendMessage", self._scope)
        with translated(_PARTICIPANT, "SendMessage", self._errors):
            response = await self._participant.send_message(
                ConnectionToken=connection_token,
                ContentType=content_type,
                Content=content,
                ClientToken=client_token,
            )
        return _sent_item(response.get("Id"), response.get("AbsoluteTime"))

    async def send_event(
        self,
        *,
        connection_token: str,
        content_type: str,
        client_token: str,
        content: str | None = None,
    ) -> SentItem:
        await self._limits.acquire("SendEvent", self._scope)
        with translated(_PARTICIPANT, "SendEvent", self._errors):
            if content is None:
                response = await self._participant.send_event(
                    ConnectionToken=connection_token,
                    ContentType=content_type,
                    ClientToken=client_token,
                )
            else:
                response = await self._participant.send_event(
                    ConnectionToken=connection_token,
                    ContentType=content_type,
                    Content=content,
                    ClientToken=client_token,
                )
        return _sent_item(response.get("Id"), response.get("AbsoluteTime"))

    async def send_receipt(
        self, *, connection_token: str, message_id: str, read: bool, client_token: str
    ) -> SentItem:
        """Tell the agent a Connect item reached (or was read by) the customer."""
        return await self.send_event(
            connection_token=connection_token,
            content_type=ct.MESSAGE_READ if read else ct.MESSAGE_DELIVERED,
            content=json.dumps({"messageId": message_id}),
            client_token=client_token,
        )

    async def send_attachment(
        self,
        *,
        connection_token: str,
        name: str,
        content_type: str,
        data: bytes,
        client_token: str,
    ) -> str:
        """Upload a small file held in memory into the chat; returns its attachment id."""

        async def chunks() -> AsyncIterator[bytes]:
            yield data

        return await self.upload_attachment(
            connection_token=connection_token,
            name=name,
            content_type=content_type,
            size=len(data),
            chunks=chunks,
            client_token=client_token,
        )

    async def upload_attachment(
        self,
        *,
        connection_token: str,
        name: str,
        content_type: str,
        size: int,
        chunks: Callable[[], AsyncIterator[bytes]],
        client_token: str,
    ) -> str:
        """Upload a file of `size` bytes, read from `chunks()`, into the chat.

        Both Participant calls take the same `client_token` (tokens are per operation), so
        a retry after a crash resumes the same attachment instead of adding another.
        The body is streamed with its length declared: the presigned URL is S3's, which
        takes no chunked transfer encoding, and the file is never whole in memory.
        """
        await self._limits.acquire("StartAttachmentUpload", self._scope)
        with translated(_PARTICIPANT, "StartAttachmentUpload", self._errors):
            started = await self._participant.start_attachment_upload(
                ConnectionToken=connection_token,
                ContentType=content_type,
                AttachmentSizeInBytes=size,
                AttachmentName=name,
                ClientToken=client_token,
            )
        attachment_id = started["AttachmentId"]
        metadata = started.get("UploadMetadata", {})
        url = metadata.get("Url")
        if not url:
            raise DependencyUnavailableError("StartAttachmentUpload returned no upload URL")
        headers = dict(metadata.get("HeadersToInclude", {})) | {"Content-Length": str(size)}
        # A fixed allowance plus time at a slow but working rate: a 100 MB file may take
        # minutes, a stalled connection may not.
        timeout = self._upload_timeout_s + size / _SLOWEST_UPLOAD_BYTES_PER_S
        refused: AttachmentRejectedError | None = None
        try:
            await self._upload(url, chunks(), headers, timeout_s=timeout)
        except AttachmentRejectedError as exc:
            # A replay of an attachment a crashed worker had already completed: the upload
            # URL may refuse a second PUT, yet Complete with the same token answers as it
            # did then. Only if Complete refuses too was the file itself refused.
            refused = exc
        await self._limits.acquire("CompleteAttachmentUpload", self._scope)
        try:
            with translated(_PARTICIPANT, "CompleteAttachmentUpload", self._errors):
                await self._participant.complete_attachment_upload(
                    ConnectionToken=connection_token,
                    AttachmentIds=[attachment_id],
                    ClientToken=client_token,
                )
        except InvalidRequestError as exc:
            raise refused or exc from exc
        log.info("connect_attachment_sent", attachment_id=attachment_id, size=size)
        return attachment_id

    async def _upload(
        self, url: str, body: AsyncIterator[bytes], headers: Mapping[str, str], *, timeout_s: float
    ) -> None:
        try:
            # The URL is presigned: re-quoting it would change what was signed.
            async with self._http.put(
                URL(url, encoded=True),
                data=body,
                headers=dict(headers),
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DependencyUnavailableError("attachment upload failed") from exc
        if status >= _HTTP_SERVER_ERROR:
            raise DependencyUnavailableError(f"attachment upload answered {status}")
        if status >= _HTTP_CLIENT_ERROR:
            raise AttachmentRejectedError(f"attachment upload refused with {status}")

    async def get_attachment(
        self, *, connection_token: str, attachment_id: str, url_expiry_s: int = 60
    ) -> AttachmentDownload:
        """A short-lived URL of a chat attachment (`url_expiry_s` within 5..300)."""
        await self._limits.acquire("GetAttachment", self._scope)
        with translated(_PARTICIPANT, "GetAttachment", self._errors):
            response = await self._participant.get_attachment(
                ConnectionToken=connection_token,
                AttachmentId=attachment_id,
                UrlExpiryInSeconds=url_expiry_s,
            )
        url = response.get("Url")
        if not url:
            raise DependencyUnavailableError("GetAttachment returned no URL")
        return AttachmentDownload(url=url, size=response.get("AttachmentSizeInBytes"))

    async def disconnect(self, *, connection_token: str, client_token: str) -> None:
        await self._limits.acquire("DisconnectParticipant", self._scope)
        with translated(_PARTICIPANT, "DisconnectParticipant", self._errors):
            await self._participant.disconnect_participant(
                ConnectionToken=connection_token, ClientToken=client_token
            )

    async def get_transcript(
        self,
        *,
        connection_token: str,
        max_results: int = 100,
        next_token: str | None = None,
        start_time: str | None = None,
    ) -> TranscriptPage:
        """One page, oldest first; from `start_time` (ISO 8601) on when given."""
        await self._limits.acquire("GetTranscript", self._scope)
        return await self._get_transcript(connection_token, max_results, next_token, start_time)

    async def transcript_if_quota(
        self, *, connection_token: str, start_time: str | None = None, within_s: float = 0.0
    ) -> TranscriptPage | None:
        """One page from `start_time` on, or None if the quota has no call to spare within
        `within_s` (counting the callers already waiting).

        For checks that must never hold the caller long: GetTranscript's quota (8 rps per
        instance) is far below the rate a contact centre's agents can write at.
        """
        if not await self._limits.acquire_within("GetTranscript", self._scope, within_s):
            return None
        return await self._get_transcript(connection_token, 100, None, start_time)

    async def _get_transcript(
        self,
        connection_token: str,
        max_results: int,
        next_token: str | None,
        start_time: str | None,
    ) -> TranscriptPage:
        params: dict[str, Any] = {
            "ConnectionToken": connection_token,
            "MaxResults": max_results,
            "ScanDirection": "FORWARD",
            "SortOrder": "ASCENDING",
        }
        if next_token is not None:
            params["NextToken"] = next_token
        elif start_time is not None:
            params["StartPosition"] = {"AbsoluteTime": start_time}
        with translated(_PARTICIPANT, "GetTranscript", self._errors):
            response = await self._participant.get_transcript(**params)
        return TranscriptPage(
            items=list(response.get("Transcript", [])), next_token=response.get("NextToken")
        )


def clamp_display_name(name: str) -> str:
    return name.strip()[:DISPLAY_NAME_MAX_CHARS] or DEFAULT_DISPLAY_NAME


def fit_attributes(
    attributes: Mapping[str, str], *, limit_bytes: int = ATTRIBUTES_MAX_BYTES
) -> dict[str, str]:
    """The attributes within Connect's total size (keys + values, UTF-8 bytes).

    Small values stay whole; the large ones share what is left equally and end in "…", so
    one oversized value (a long first message, say) cannot push the others out.
    """
    kept: dict[str, str] = {}
    key_bytes = 0
    for key, value in attributes.items():
        size = len(key.encode())
        if key_bytes + size > limit_bytes:
            log.warning("connect_attribute_dropped", attribute=key)
            continue
        key_bytes += size
        kept[key] = value
    value_sizes = {key: len(value.encode()) for key, value in kept.items()}
    if key_bytes + sum(value_sizes.values()) <= limit_bytes:
        return kept
    budget = limit_bytes - key_bytes
    remaining = len(kept)
    fitted: dict[str, str] = {}
    for key in sorted(kept, key=value_sizes.__getitem__):
        share = budget // remaining
        value = _truncate_utf8(kept[key], share)
        budget -= len(value.encode())
        remaining -= 1
        fitted[key] = value
    return {key: fitted[key] for key in kept}


def _truncate_utf8(value: str, max_bytes: int) -> str:
    encoded = value.encode()
    if len(encoded) <= max_bytes:
        return value
    marker = len(_ELLIPSIS.encode())
    if max_bytes < marker:
        return encoded[:max_bytes].decode(errors="ignore")
    # errors="ignore" drops a multi-byte character cut in half at the end.
    return encoded[: max_bytes - marker].decode(errors="ignore") + _ELLIPSIS


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _sent_item(item_id: str | None, absolute_time: str | None) -> SentItem:
    if not item_id:
        raise DependencyUnavailableError("Connect returned no item id")
    return SentItem(id=item_id, absolute_time=_parse_time(absolute_time) if absolute_time else None)
