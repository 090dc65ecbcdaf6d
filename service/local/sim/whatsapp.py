"""The `socialmessaging` operations: sends (checked and recorded), media in/out of S3, the
business number's details and the WABA's message templates."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Final

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from service.local.sim.clock import Clock, iso_ms
from service.local.sim.errors import AwsError
from service.local.sim.identity import BusinessDirectory, BusinessNumber
from service.local.sim.media import MediaStore, extension_for, sendable_limit_bytes
from service.local.sim.meta_messages import MetaError, check_message
from service.local.sim.paging import decode_offset, encode_offset
from service.local.sim.templates import Template, TemplateCatalog
from service.local.sim.window import RE_ENGAGEMENT, ServiceWindows

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

_log = structlog.get_logger(__name__)

_VALIDATION: Final = "ValidationException"
_INVALID_PARAMETERS: Final = "InvalidParametersException"
_NOT_FOUND: Final = "ResourceNotFoundException"
_API_VERSION = re.compile(r"^v\d+\.\d+$")
_STATUS_DELAY_S: Final = 0.2
# ListWhatsAppMessageTemplates without maxResults (the model leaves the default open).
_DEFAULT_TEMPLATE_PAGE: Final = 50

# Reports a message WhatsApp accepted and will not deliver: a `failed` status with Meta's
# error code and, if given, its details.
Undeliverable = Callable[[str, int, str | None], Awaitable[object]]


def new_wamid() -> str:
    return "wamid." + base64.b64encode(secrets.token_bytes(30)).decode()


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    message_id: str
    business: BusinessNumber
    origination: str
    recipient: str | None
    kind: str
    message: dict[str, Any]
    meta_api_version: str
    time: float
    # A template's text as the customer sees it (header and body, placeholders filled).
    rendered: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "businessPhoneNumberId": self.business.phone_number_id,
            "originationPhoneNumberId": self.origination,
            "recipient": self.recipient,
            "type": self.kind,
            "message": self.message,
            "metaApiVersion": self.meta_api_version,
            "time": iso_ms(self.time),
            "rendered": self.rendered,
        }


class Outbox:
    def __init__(self) -> None:
        self._entries: list[OutboxEntry] = []

    def append(self, entry: OutboxEntry) -> None:
        self._entries.append(entry)

    def find(self, message_id: str) -> OutboxEntry | None:
        return next((entry for entry in self._entries if entry.message_id == message_id), None)

    def entries(self) -> list[OutboxEntry]:
        return list(self._entries)

    def clear(self) -> None:
        self._entries.clear()


class SocialApi:
    def __init__(
        self,
        *,
        directory: BusinessDirectory,
        media: MediaStore,
        outbox: Outbox,
        s3: S3Client,
        clock: Clock,
        templates: TemplateCatalog,
        windows: ServiceWindows | None = None,
        undeliverable: Undeliverable | None = None,
    ) -> None:
        self._directory = directory
        self._media = media
        self._outbox = outbox
        self._s3 = s3
        self._clock = clock
        self._templates = templates
        self._windows = windows
        self.undeliverable = undeliverable
        # Called for every accepted message, a moment after the answer (`sent` statuses).
        self.accepted: Callable[[str], Awaitable[object]] | None = None
        self._reports: set[asyncio.Task[None]] = set()

    def _business(self, origination: str) -> BusinessNumber:
        number = self._directory.by_origination(origination)
        if number is None:
            raise AwsError(_NOT_FOUND, "The origination phone number was not found")
        return number

    def _waba(self, waba: str) -> str:
        """Meta's id of the WABA an EUM WABA id or ARN names."""
        number = self._directory.by_waba(waba)
        if number is None:
            raise AwsError(_NOT_FOUND, "The WhatsApp Business Account was not found")
        return number.waba_id

    async def send_whatsapp_message(self, params: dict[str, Any]) -> dict[str, Any]:
        business = self._business(params["originationPhoneNumberId"])
        version: str = params["metaApiVersion"]
        if not _API_VERSION.match(version):
            raise AwsError(_VALIDATION, f"metaApiVersion {version!r} is not a Graph API version")
        raw: bytes = params["message"]
        try:
            message = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AwsError(_VALIDATION, "(#100) Invalid parameter: message is not JSON") from exc
        try:
            send = check_message(
                message, known_media=lambda media_id: bool(self._media.get(media_id))
            )
        except MetaError as exc:
            raise AwsError(_VALIDATION, str(exc)) from exc
        failure: tuple[int, str | None] | None = None
        rendered = None
        if send.kind == "template":
            verdict = self._templates.prepare(business.waba_id, message["template"])
            rendered = verdict.rendered
            if verdict.error is not None:
                failure = (verdict.error, verdict.details)
        entry = OutboxEntry(
            message_id=new_wamid(),
            business=business,
            origination=params["originationPhoneNumberId"],
            recipient=send.recipient,
            kind=send.kind,
            message=message,
            meta_api_version=version,
            time=self._clock.now(),
            rendered=rendered,
        )
        self._outbox.append(entry)
        if self._windows is not None and not self._windows.allows(
            business.phone_number_id, send.recipient, send.kind, entry.time
        ):
            failure = (RE_ENGAGEMENT, None)
        if failure is not None:
            # Accepted, then reported failed, as Meta does: never refused up front.
            undeliverable = self.undeliverable
            if undeliverable is not None:
                message_id, (code, details) = entry.message_id, failure
                self._report_later(lambda: undeliverable(message_id, code, details))
        elif self.accepted is not None:
            accepted, message_id = self.accepted, entry.message_id
            self._report_later(lambda: accepted(message_id))
        return {"messageId": entry.message_id}

    def _report_later(self, report: Callable[[], Awaitable[object]]) -> None:
        async def run() -> None:
            await asyncio.sleep(_STATUS_DELAY_S)  # after the send's answer, like Meta's webhook
            try:
                await report()
            except Exception:  # noqa: BLE001  a status the sandbox cannot publish is only logged
                _log.warning("sim_status_report_failed")

        task = asyncio.create_task(run())
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def get_whatsapp_message_media(self, params: dict[str, Any]) -> dict[str, Any]:
        self._business(params["originationPhoneNumberId"])
        media = self._media.get(params["mediaId"])
        if media is None:
            raise AwsError(_NOT_FOUND, "Media not found")
        answer = {"mimeType": media.mime_type, "fileSize": len(media.data)}
        if params.get("metadataOnly"):
            return answer
        if params.get("destinationS3PresignedUrl") is not None:
            raise AwsError(
                _INVALID_PARAMETERS, "destinationS3PresignedUrl is not supported by the sandbox"
            )
        destination: dict[str, str] | None = params.get("destinationS3File")
        if destination is None:
            raise AwsError(_INVALID_PARAMETERS, "A destination is required unless metadataOnly")
        key = f"{destination['key']}{media.media_id}.{extension_for(media.mime_type)}"
        try:
            await self._s3.put_object(
                Bucket=destination["bucketName"],
                Key=key,
                Body=media.data,
                ContentType=media.mime_type,
            )
        except (ClientError, BotoCoreError) as exc:
            _log.warning("sim_media_write_failed", error=type(exc).__name__)
            raise AwsError(
                _INVALID_PARAMETERS, "The destination S3 bucket could not be written"
            ) from exc
        return answer

    async def post_whatsapp_message_media(self, params: dict[str, Any]) -> dict[str, Any]:
        self._business(params["originationPhoneNumberId"])
        if params.get("sourceS3PresignedUrl") is not None:
            raise AwsError(
                _INVALID_PARAMETERS, "sourceS3PresignedUrl is not supported by the sandbox"
            )
        source: dict[str, str] | None = params.get("sourceS3File")
        if source is None:
            raise AwsError(_INVALID_PARAMETERS, "sourceS3File is required")
        try:
            response = await self._s3.get_object(Bucket=source["bucketName"], Key=source["key"])
            async with response["Body"] as stream:
                data = await stream.read()
        except ClientError as exc:
            raise AwsError(_NOT_FOUND, "The source S3 object was not found") from exc
        mime_type = response.get("ContentType") or "application/octet-stream"
        limit = sendable_limit_bytes(mime_type)
        if limit is None:
            raise AwsError(
                _INVALID_PARAMETERS, f"(#131053) Media upload error: {mime_type} is not supported"
            )
        if len(data) > limit:
            raise AwsError(
                _INVALID_PARAMETERS,
                f"(#131053) Media upload error: {len(data)} bytes exceed {limit} for {mime_type}",
            )
        media = self._media.add(
            data, mime_type, filename=PurePosixPath(source["key"]).name, origin="business"
        )
        return {"mediaId": media.media_id}

    async def delete_whatsapp_message_media(self, params: dict[str, Any]) -> dict[str, Any]:
        self._business(params["originationPhoneNumberId"])
        if not self._media.delete(params["mediaId"]):
            raise AwsError(_NOT_FOUND, "Media not found")
        return {"success": True}

    async def get_linked_whatsapp_business_account_phone_number(
        self, params: dict[str, Any]
    ) -> dict[str, Any]:
        number = self._directory.by_origination(params["id"])
        if number is None:
            raise AwsError(_NOT_FOUND, "The phone number was not found")
        return {
            "phoneNumber": number.details(),
            "linkedWhatsAppBusinessAccountId": number.eum_waba_id,
        }

    async def list_whatsapp_message_templates(self, params: dict[str, Any]) -> dict[str, Any]:
        templates = self._templates.templates(self._waba(params["id"]))
        offset = decode_offset(params.get("nextToken"), error_code=_VALIDATION)
        size: int = params.get("maxResults", _DEFAULT_TEMPLATE_PAGE)
        page = templates[offset : offset + size]
        more = offset + size < len(templates)
        return {
            "templates": [template.summary() for template in page],
            "nextToken": encode_offset(offset + size) if more else None,
        }

    async def get_whatsapp_message_template(self, params: dict[str, Any]) -> dict[str, Any]:
        waba = self._waba(params["id"])
        meta_id: str | None = params.get("metaTemplateId")
        name: str | None = params.get("templateName")
        language: str | None = params.get("templateLanguageCode")
        template: Template | None
        if meta_id is not None:
            template = self._templates.by_meta_id(waba, meta_id)
        elif name is not None and language is not None:
            template = self._templates.find(waba, name, language)
        else:
            raise AwsError(
                _INVALID_PARAMETERS,
                "Give metaTemplateId, or templateName and templateLanguageCode",
            )
        if template is None:
            raise AwsError(_NOT_FOUND, "The template was not found")
        return {"template": json.dumps(template.definition(), ensure_ascii=False)}
