"""Chat attachments through the participant API, and the S3-like URLs it hands out.

StartAttachmentUpload returns a URL on the simulator that accepts one PUT (checked against
the declared size and the signed Content-Type), CompleteAttachmentUpload appends the
ATTACHMENT item, GetAttachment returns a short-lived URL that serves the file. Limits are
Connect's chat attachment rules (limits.md §1): the default extensions plus the configured
extra ones, 20 MB unless configured (up to 100 MB), 35 per chat. The PUT is read as a
stream (chunked or not) and refused as soon as it outgrows the declared size, so a large
or runaway upload is never buffered beyond what the attachment will hold.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Final

from service.local.sim.chat import Attachment, new_id, new_token
from service.local.sim.clock import iso_ms
from service.local.sim.errors import AwsError, SandboxError
from service.local.sim.hub import ChatHub
from service.local.sim.participant import authorize

_VALIDATION: Final = "ValidationException"
_DEFAULT_URL_EXPIRY_S: Final = 300
ATTACHMENT_EXTENSIONS: Final = frozenset(
    {
        ".csv", ".doc", ".docx", ".heic", ".jfif", ".jpeg", ".jpg", ".mov", ".mp4",
        ".pdf", ".png", ".ppt", ".pptx", ".rtf", ".txt", ".wav", ".xls", ".xlsx",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Upload:
    attachment_id: str
    token: str
    content_type: str | None
    content_length: int | None  # the header, when the PUT is not chunked
    body: AsyncIterator[bytes]


def _size_error(sent: int, declared: int, *, more: bool = False) -> SandboxError:
    at_least = "at least " if more else ""
    return SandboxError(400, f"BadDigest: {at_least}{sent} bytes sent, {declared} were declared")


class AttachmentApi:
    def __init__(self, *, hub: ChatHub) -> None:
        self._hub = hub

    async def start_attachment_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        connection = await authorize(self._hub, params["ConnectionToken"])
        chat = connection.chat
        config = self._hub.config
        token: str = params["ClientToken"]
        remembered = chat.recall("StartAttachmentUpload", token)
        if remembered is not None:
            return self._upload_answer(chat.attachments[remembered])
        name: str = params["AttachmentName"]
        suffix = PurePosixPath(name.lower()).suffix
        if suffix not in ATTACHMENT_EXTENSIONS and suffix not in config.connect_extra_extensions:
            raise AwsError(_VALIDATION, f"Unsupported file type: {PurePosixPath(name).suffix}")
        size: int = params["AttachmentSizeInBytes"]
        if size > config.max_attachment_bytes:
            raise AwsError(
                _VALIDATION,
                f"Attachment size {size} exceeds the limit of {config.max_attachment_bytes} bytes",
            )
        if len(chat.attachments) >= config.max_attachments_per_chat:
            raise AwsError(
                "ServiceQuotaExceededException",
                "The number of attachments per contact exceeds the quota",
            )
        attachment = Attachment(
            attachment_id=new_id(),
            name=name,
            content_type=params["ContentType"],
            size=size,
            uploader=connection.participant,
            client_token=token,
            upload_expires_at=self._hub.now() + config.upload_url_ttl_s,
            upload_token=new_token(""),
        )
        self._hub.store.add_attachment(chat, attachment)
        chat.remember("StartAttachmentUpload", token, attachment.attachment_id)
        return self._upload_answer(attachment)

    def _upload_answer(self, attachment: Attachment) -> dict[str, Any]:
        url = (
            f"{self._hub.config.public_url}/attachments/{attachment.attachment_id}/upload"
            f"?X-Amz-Signature={attachment.upload_token}"
        )
        return {
            "AttachmentId": attachment.attachment_id,
            "UploadMetadata": {
                "Url": url,
                "UrlExpiry": iso_ms(attachment.upload_expires_at),
                "HeadersToInclude": {"Content-Type": attachment.content_type},
            },
        }

    async def accept_upload(self, upload: Upload) -> None:
        """The PUT to an upload URL; errors are S3-like (status, code) pairs.

        Everything that can be refused before the body is read is; the body is then read
        chunk by chunk and refused at the first byte past the declared size.
        """
        found = self._hub.store.attachment(upload.attachment_id)
        if found is None:
            raise SandboxError(404, "NoSuchUpload")
        _, attachment = found
        if upload.token != attachment.upload_token:
            raise SandboxError(403, "SignatureDoesNotMatch")
        if self._hub.now() > attachment.upload_expires_at:
            raise SandboxError(403, "AccessDenied: Request has expired")
        if upload.content_type != attachment.content_type:
            raise SandboxError(403, "SignatureDoesNotMatch: Content-Type differs from the signed")
        declared = attachment.size
        if upload.content_length is not None and upload.content_length != declared:
            raise _size_error(upload.content_length, declared)
        chunks: list[bytes] = []
        received = 0
        async for chunk in upload.body:
            received += len(chunk)
            if received > declared:
                raise _size_error(received, declared, more=True)
            chunks.append(chunk)
        if received != declared:
            raise _size_error(received, declared)
        attachment.data = b"".join(chunks)

    async def complete_attachment_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        connection = await authorize(self._hub, params["ConnectionToken"])
        chat = connection.chat
        token: str = params["ClientToken"]
        if chat.recall("CompleteAttachmentUpload", token) is not None:
            return {}
        attachment = chat.attachments.get(params["AttachmentIds"][0])
        if attachment is None:
            raise AwsError(_VALIDATION, "Attachment not found")
        if attachment.completed_token is not None:
            raise AwsError("ConflictException", "The attachment upload is already completed")
        if attachment.data is None:
            raise AwsError(_VALIDATION, "The attachment has not been uploaded")
        attachment.status = "APPROVED"
        attachment.completed_token = token
        item = chat.append(
            self._hub.now(),
            kind="ATTACHMENT",
            participant=connection.participant,
            content_type=attachment.content_type,
            attachments=[attachment],
            client_token=token,
        )
        chat.remember("CompleteAttachmentUpload", token, attachment.attachment_id)
        await self._hub.emit(chat, [item])
        return {}

    async def get_attachment(self, params: dict[str, Any]) -> dict[str, Any]:
        connection = await authorize(self._hub, params["ConnectionToken"])
        attachment = connection.chat.attachments.get(params["AttachmentId"])
        if attachment is None or attachment.status != "APPROVED" or attachment.data is None:
            raise AwsError(_VALIDATION, "Attachment not found")
        expiry_s: int = params.get("UrlExpiryInSeconds", _DEFAULT_URL_EXPIRY_S)
        expires_at = self._hub.now() + expiry_s
        grant = self._hub.store.grant_download(attachment, expires_at)
        return {
            "Url": f"{self._hub.config.public_url}/attachments/{attachment.attachment_id}"
            f"/download?X-Amz-Signature={grant}",
            "UrlExpiry": iso_ms(expires_at),
            "AttachmentSizeInBytes": attachment.size,
        }

    def serve_download(self, attachment_id: str, token: str) -> Attachment:
        grant = self._hub.store.download(token)
        if grant is None or grant.attachment.attachment_id != attachment_id:
            raise SandboxError(403, "SignatureDoesNotMatch")
        if self._hub.now() > grant.expires_at:
            raise SandboxError(403, "AccessDenied: Request has expired")
        return grant.attachment
