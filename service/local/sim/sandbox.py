"""The sandbox API (JSON): play the customer and the agent, inspect records, steer the world.

Also the S3-like URLs the simulated services hand out: PUT for attachment uploads, GET for
attachment downloads and for transcripts in Transcribe's service-managed bucket.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal
from urllib.parse import quote
from xml.sax.saxutils import escape

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from service.local.sim.agent import AgentEvent
from service.local.sim.attachments import Upload
from service.local.sim.chat import Chat
from service.local.sim.clock import iso_ms
from service.local.sim.errors import SandboxError
from service.local.sim.identity import BusinessNumber
from service.local.sim.media import Speech
from service.local.sim.settings import (
    MAX_ATTACHMENT_BYTES,
    MIN_ATTACHMENT_BYTES,
    normalize_extensions,
)
from service.local.sim.templates import TemplateError, TemplateExistsError
from service.local.sim.transcribe import language_codes
from service.local.sim.world import Simulator


def _simulator(request: Request) -> Simulator:
    sim: Simulator = request.app.state.sim
    return sim


Sim = Annotated[Simulator, Depends(_simulator)]


class _Camel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class ClockBody(_Camel):
    advance_s: float = Field(ge=0)


class BusinessNumberBody(_Camel):
    phone_number_id: str
    display_phone_number: str
    arn: str = Field(pattern=r"^arn:aws:social-messaging:[a-z0-9-]+:\d{12}:phone-number-id/\w+$")
    waba_id: str | None = None
    waba_arn: str | None = None
    verified_name: str | None = Field(default=None, min_length=1, max_length=200)


class ConfigBody(_Camel):
    inbound_topic_arn: str | None = None
    connection_token_ttl_s: float | None = Field(default=None, gt=0)
    connect_text_limit: int | None = Field(default=None, ge=1)
    max_active_chats: int | None = Field(default=None, ge=0)
    max_attachments_per_chat: int | None = Field(default=None, ge=0)
    max_attachment_bytes: int | None = Field(
        default=None, ge=MIN_ATTACHMENT_BYTES, le=MAX_ATTACHMENT_BYTES
    )
    # Replaces the extra extensions (UpdateAttachedFilesConfiguration's custom list).
    connect_extra_extensions: list[str] | None = None
    connect_window_s: float | None = Field(default=None, gt=0)
    upload_url_ttl_s: float | None = Field(default=None, gt=0)
    default_chat_duration_minutes: int | None = Field(default=None, ge=1)
    agent_display_name: str | None = Field(default=None, min_length=1)
    flow_ends_new_chats: bool | None = None
    transcribe_job_min_s: float | None = Field(default=None, ge=0)
    transcribe_max_concurrent_jobs: int | None = Field(default=None, ge=1)
    whatsapp_sent_statuses: bool | None = None
    add_business_numbers: list[BusinessNumberBody] = Field(default_factory=list)


class AgentMessageBody(_Camel):
    text: str | None = None
    content_type: str | None = Field(default=None, alias="contentType")
    content: str | None = None
    display_name: str | None = Field(default=None, alias="displayName")
    # Streaming of this item reaches SNS this much later, overtaken by the items after it.
    stream_delay_ms: int = Field(default=0, ge=0, le=600_000, alias="streamDelayMs")


class AgentAttachmentBody(_Camel):
    name: str = Field(min_length=1)
    content_type: str = Field(alias="contentType", min_length=1)
    content_base64: str = Field(alias="contentBase64")
    display_name: str | None = Field(default=None, alias="displayName")


class AgentEventBody(_Camel):
    type: AgentEvent
    message_id: str | None = Field(default=None, alias="messageId")


class StatusBody(_Camel):
    message_id: str = Field(alias="messageId")
    status: Literal["sent", "delivered", "read", "failed"]
    error_code: int | None = Field(default=None, alias="errorCode")
    error_title: str | None = Field(default=None, alias="errorTitle")
    error_details: str | None = Field(default=None, alias="errorDetails")


class TemplateButtonBody(_Camel):
    type: Literal["QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE"]
    text: str
    url: str | None = None
    phone_number: str | None = None
    example: list[str] | None = None


class TemplateComponentBody(_Camel):
    """One component of a template, in Meta's form (`HEADER`, `BODY`, `FOOTER`, `BUTTONS`)."""

    type: Literal["HEADER", "BODY", "FOOTER", "BUTTONS"]
    format: Literal["TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION"] | None = None
    text: str | None = None
    example: dict[str, Any] | None = None
    buttons: list[TemplateButtonBody] | None = None


class TemplateBody(_Camel):
    name: str
    language: str
    category: Literal["MARKETING", "UTILITY", "AUTHENTICATION"]
    status: Literal["APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED"] = "APPROVED"
    components: list[TemplateComponentBody] = Field(min_length=1)
    # Meta's id of the WABA that owns it; the default business number's when left out.
    waba_id: str | None = Field(default=None, alias="wabaId")


class FaultBody(_Camel):
    action: Literal["expire_connection_tokens", "clear"] | None = None
    operation: str | None = None
    error: str | None = None
    service: Literal["connect", "connectparticipant", "socialmessaging", "transcribe"] | None = None
    count: int | None = Field(default=None, ge=1)
    rate: float | None = Field(default=None, gt=0, le=1)
    # Let this many matching calls through before the rule starts failing them.
    after: int = Field(default=0, ge=0)
    message: str | None = None


def sandbox_error_response(error: SandboxError) -> JSONResponse:
    return JSONResponse({"error": error.message}, status_code=error.status)


def _s3_error(error: SandboxError) -> Response:
    code, _, message = error.message.partition(": ")
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message or code)}</Message></Error>"
    )
    return Response(xml, status_code=error.status, media_type="application/xml")


router = APIRouter()


@router.get("/sandbox/health")
async def health(sim: Sim) -> dict[str, Any]:
    return {
        "status": "ok",
        "now": iso_ms(sim.clock.now()),
        "clockOffsetS": sim.clock.offset_s,
        "streamPublished": sim.stream.published,
        "streamFailed": sim.stream.failed,
    }


@router.post("/sandbox/reset")
async def reset(sim: Sim) -> dict[str, bool]:
    sim.reset()
    return {"reset": True}


@router.get("/sandbox/clock")
async def get_clock(sim: Sim) -> dict[str, Any]:
    return {"now": iso_ms(sim.clock.now()), "offsetS": sim.clock.offset_s}


@router.post("/sandbox/clock")
async def advance_clock(body: ClockBody, sim: Sim) -> dict[str, Any]:
    sim.clock.advance(body.advance_s)
    await sim.hub.refresh()
    return {"now": iso_ms(sim.clock.now()), "offsetS": sim.clock.offset_s}


@router.get("/sandbox/config")
async def get_config(sim: Sim) -> dict[str, Any]:
    return {
        **sim.config.describe(),
        "business_numbers": [number.describe() for number in sim.directory.numbers()],
    }


@router.post("/sandbox/config")
async def update_config(body: ConfigBody, sim: Sim) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, exclude={"add_business_numbers"})
    for name, value in changes.items():
        if value is None and name != "connect_text_limit":
            continue  # only the text limit can be switched off with null
        if name == "connect_extra_extensions":
            value = normalize_extensions(value)  # noqa: PLW2901  stored in one form
        setattr(sim.config, name, value)
    for number in body.add_business_numbers:
        default = sim.directory.default
        sim.directory.add(
            BusinessNumber(
                phone_number_id=number.phone_number_id,
                display_phone_number=number.display_phone_number,
                arn=number.arn,
                waba_id=number.waba_id or default.waba_id,
                waba_arn=number.waba_arn or default.waba_arn,
                verified_name=number.verified_name or default.verified_name,
            )
        )
    return await get_config(sim)


@router.post("/sandbox/customers/{wa_id}/messages")
async def customer_messages(
    wa_id: str,
    sim: Sim,
    body: Annotated[dict[str, Any] | list[dict[str, Any]], Body()],
) -> dict[str, list[str]]:
    """Publish one EUM event per message (a list is a burst), in order; returns the wamids.

    Each message is the type-specific part of a WhatsApp inbound message, e.g.
    `{"type": "text", "text": {"body": "hi"}}`, plus optional `profile_name`, `username`,
    `business` (Meta phone-number id), `bsuid`, `bsuid_only`, `id` (replay a duplicate),
    `timestamp` and `delay_ms` (a pause before that message is published). Media parts
    name an uploaded media id and get `mime_type`/`sha256` (and `filename`) filled in.
    """
    specs = body if isinstance(body, list) else [body]
    if not specs:
        raise SandboxError(400, "send at least one message")
    return {"messageIds": await sim.customer.send_messages(wa_id, specs)}


@router.post("/sandbox/customers/{wa_id}/media")
async def customer_media(
    wa_id: str,
    request: Request,
    sim: Sim,
    *,
    filename: Annotated[str | None, Query()] = None,
    transcript: Annotated[str | None, Query()] = None,
    language: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """Upload a file (raw body, its Content-Type, optional `?filename=`); returns its media id.

    `transcript` (and optionally `language`, a Transcribe language code) is what is spoken
    in it: a transcription job over these exact bytes returns that text, and identifies
    that language, instead of recognising (an empty `transcript=` means no speech).
    """
    del wa_id  # media belongs to the conversation, not checked per customer
    if language is not None and transcript is None:
        raise SandboxError(400, "language needs transcript")
    if language is not None and language not in language_codes():
        raise SandboxError(400, f"language {language!r} is not a Transcribe language code")
    speech = None if transcript is None else Speech(transcript, language)
    data = await request.body()
    media = sim.customer.upload_media(
        data, request.headers.get("content-type", ""), filename, speech
    )
    return media.describe()


@router.get("/sandbox/contacts")
async def list_contacts(sim: Sim) -> dict[str, Any]:
    await sim.hub.refresh()
    return {"contacts": [chat.describe() for chat in sim.store.chats()]}


async def _chat(sim: Simulator, contact_id: str) -> Chat:
    await sim.hub.refresh()
    chat = sim.store.by_contact(contact_id)
    if chat is None:
        raise SandboxError(404, f"unknown contact {contact_id}")
    return chat


def _disposition(name: str) -> str:
    return f"attachment; filename*=UTF-8''{quote(name)}"


@router.get("/sandbox/contacts/{contact_id}")
async def get_contact(contact_id: str, sim: Sim) -> dict[str, Any]:
    return (await _chat(sim, contact_id)).describe()


@router.get("/sandbox/contacts/{contact_id}/attachments")
async def contact_attachments(contact_id: str, sim: Sim) -> dict[str, Any]:
    """Every attachment of the chat: name, content type, size, status and a download path."""
    chat = await _chat(sim, contact_id)
    return {
        "attachments": [
            attachment.describe()
            | {"downloadPath": f"/sandbox/contacts/{contact_id}/attachments/{attachment_id}"}
            for attachment_id, attachment in chat.attachments.items()
        ]
    }


@router.get("/sandbox/contacts/{contact_id}/attachments/{attachment_id}")
async def contact_attachment(contact_id: str, attachment_id: str, sim: Sim) -> Response:
    """The bytes as uploaded, with their content type and name (any status)."""
    chat = await _chat(sim, contact_id)
    attachment = chat.attachments.get(attachment_id)
    if attachment is None or attachment.data is None:
        raise SandboxError(404, f"no uploaded attachment {attachment_id} in this chat")
    return Response(
        attachment.data,
        media_type=attachment.content_type,
        headers={"content-disposition": _disposition(attachment.name)},
    )


@router.post("/sandbox/contacts/{contact_id}/agent/messages")
async def agent_message(contact_id: str, body: AgentMessageBody, sim: Sim) -> dict[str, Any]:
    """`{"text": ...}` or `{"contentType": ..., "content": ...}`; the agent joins if needed.

    `streamDelayMs` publishes this item's streaming event that much later, after the items
    written behind it (a standard SNS topic's lack of order, on demand)."""
    if body.text is not None:
        content_type, content = "text/plain", body.text
    elif body.content_type is not None and body.content is not None:
        content_type, content = body.content_type, body.content
    else:
        raise SandboxError(400, 'give "text", or "contentType" and "content"')
    item = await sim.agent.send_message(
        contact_id,
        content_type=content_type,
        content=content,
        display_name=body.display_name,
        stream_delay_s=body.stream_delay_ms / 1000,
    )
    return item.describe()


@router.post("/sandbox/contacts/{contact_id}/agent/attachments")
async def agent_attachment(contact_id: str, body: AgentAttachmentBody, sim: Sim) -> dict[str, Any]:
    """`{"name", "contentType", "contentBase64"}`: an approved ATTACHMENT item from the agent."""
    try:
        data = base64.b64decode(body.content_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SandboxError(400, "contentBase64 is not valid base64") from exc
    item = await sim.agent.send_attachment(
        contact_id,
        name=body.name,
        content_type=body.content_type,
        data=data,
        display_name=body.display_name,
    )
    return item.describe()


@router.post("/sandbox/contacts/{contact_id}/agent/events")
async def agent_event(contact_id: str, body: AgentEventBody, sim: Sim) -> dict[str, Any]:
    """`{"type": "typing" | "read" | "delivered", "messageId"?}` from the agent."""
    item = await sim.agent.send_event(contact_id, event=body.type, message_id=body.message_id)
    return item.describe()


@router.post("/sandbox/contacts/{contact_id}/end")
async def end_contact(contact_id: str, sim: Sim) -> dict[str, Any]:
    items = await sim.agent.end(contact_id)
    return {"items": [item.describe() for item in items]}


@router.post("/sandbox/contacts/{contact_id}/transfer")
async def transfer_contact(contact_id: str, sim: Sim) -> dict[str, Any]:
    """A new ContactId for the chat (same InitialContactId); the next agent is a new one."""
    return await sim.agent.transfer(contact_id)


@router.get("/sandbox/whatsapp/outbox")
async def outbox(sim: Sim) -> dict[str, Any]:
    return {"messages": [entry.describe() for entry in sim.outbox.entries()]}


@router.get("/sandbox/whatsapp/inbound")
async def inbound(sim: Sim) -> dict[str, Any]:
    return {"messages": [record.describe() for record in sim.customer.inbound()]}


@router.get("/sandbox/whatsapp/media")
async def media(sim: Sim) -> dict[str, Any]:
    return {"media": [item.describe() for item in sim.media.all()]}


@router.get("/sandbox/whatsapp/media/{media_id}")
async def media_bytes(media_id: str, sim: Sim) -> Response:
    """A media file's bytes (the customer's uploads, the business's posts), for a phone to show."""
    found = sim.media.get(media_id)
    if found is None:
        raise SandboxError(404, "unknown media id")
    headers = {"content-disposition": _disposition(found.filename or found.media_id)}
    return Response(found.data, media_type=found.mime_type, headers=headers)


@router.post("/sandbox/whatsapp/statuses")
async def statuses(body: StatusBody, sim: Sim) -> dict[str, Any]:
    """The customer's phone reports a status for a message the bridge sent (EUM event)."""
    return await sim.customer.report_status(
        body.message_id,
        body.status,
        error_code=body.error_code,
        error_title=body.error_title,
        error_details=body.error_details,
    )


@router.get("/sandbox/templates")
async def list_templates(sim: Sim) -> dict[str, Any]:
    """Every WABA's message templates, with their definitions in Meta's form."""
    return {"templates": [template.describe() for template in sim.templates.templates()]}


@router.post("/sandbox/templates")
async def add_template(body: TemplateBody, sim: Sim) -> dict[str, Any]:
    """Create a template (as if Meta had reviewed it to `status`); placeholders `{{1}}`..."""
    waba_id = body.waba_id or sim.directory.default.waba_id
    if waba_id not in sim.directory.wabas():
        raise SandboxError(404, f"no business number belongs to WABA {waba_id}")
    try:
        template = sim.templates.add(
            waba_id,
            name=body.name,
            language=body.language,
            category=body.category,
            status=body.status,
            components=[part.model_dump(exclude_none=True) for part in body.components],
        )
    except TemplateExistsError as exc:
        raise SandboxError(409, str(exc)) from exc
    except TemplateError as exc:
        raise SandboxError(400, str(exc)) from exc
    return template.describe()


@router.get("/sandbox/transcribe/jobs")
async def transcription_jobs(sim: Sim) -> dict[str, Any]:
    """Every transcription job, oldest first, with what the simulator measured running it."""
    return {"jobs": [job.describe() for job in sim.transcribe.jobs()]}


@router.get("/sandbox/faults")
async def list_faults(sim: Sim) -> dict[str, Any]:
    return {"faults": [rule.describe() for rule in sim.faults.rules()]}


@router.post("/sandbox/faults")
async def add_fault(body: FaultBody, sim: Sim) -> dict[str, Any]:
    """`{"operation", "error", "count" | "rate", "after"?, "message"?, "service"?}` or
    `{"action": "expire_connection_tokens" | "clear"}`."""
    if body.action == "expire_connection_tokens":
        return {"expired": sim.store.expire_connections(sim.clock.now())}
    if body.action == "clear":
        sim.faults.clear()
        return {"faults": []}
    if body.operation is None or body.error is None:
        raise SandboxError(400, 'give "action", or "operation" and "error"')
    try:
        rule = sim.faults.add(
            operation=body.operation,
            error=body.error,
            message=body.message,
            service=body.service,
            count=body.count,
            rate=body.rate,
            after=body.after,
        )
    except ValueError as exc:
        raise SandboxError(400, str(exc)) from exc
    return rule.describe()


@router.put("/attachments/{attachment_id}/upload")
async def upload_attachment(
    attachment_id: str,
    request: Request,
    sim: Sim,
    signature: Annotated[str, Query(alias="X-Amz-Signature")] = "",
) -> Response:
    length = request.headers.get("content-length")
    upload = Upload(
        attachment_id=attachment_id,
        token=signature,
        content_type=request.headers.get("content-type"),
        content_length=int(length) if length and length.isdigit() else None,
        body=request.stream(),
    )
    try:
        await sim.attachments.accept_upload(upload)
    except SandboxError as error:
        return _s3_error(error)
    return Response(status_code=200)


@router.get("/transcribe/output/{job_name}.json")
async def transcribe_output(
    job_name: str,
    sim: Sim,
    signature: Annotated[str, Query(alias="X-Amz-Signature")] = "",
) -> Response:
    """A transcript in the service-managed bucket, via GetTranscriptionJob's presigned URL."""
    try:
        document = sim.transcribe.service_output(job_name, signature)
    except SandboxError as error:
        return _s3_error(error)
    return Response(document, media_type="application/json")


@router.get("/attachments/{attachment_id}/download")
async def download_attachment(
    attachment_id: str,
    sim: Sim,
    signature: Annotated[str, Query(alias="X-Amz-Signature")] = "",
) -> Response:
    try:
        attachment = sim.attachments.serve_download(attachment_id, signature)
    except SandboxError as error:
        return _s3_error(error)
    return Response(attachment.data or b"", media_type=attachment.content_type)
