"""The simulated world: every actor and record, built once per app and reset per test."""

from __future__ import annotations

import random
from dataclasses import fields
from typing import TYPE_CHECKING, Final

from service.local.sim.agent import AgentDesk
from service.local.sim.attachments import AttachmentApi
from service.local.sim.changes import Changes
from service.local.sim.chat import ChatStore
from service.local.sim.clock import Clock
from service.local.sim.config import SimConfig
from service.local.sim.connect import ConnectApi
from service.local.sim.customer import CustomerPhone
from service.local.sim.dispatch import Handler
from service.local.sim.faults import FaultInjector
from service.local.sim.hub import ChatHub
from service.local.sim.identity import BusinessDirectory, BusinessNumber
from service.local.sim.media import MediaStore
from service.local.sim.participant import ParticipantApi
from service.local.sim.settings import SimSettings
from service.local.sim.streaming import StreamPublisher
from service.local.sim.templates import TemplateCatalog
from service.local.sim.transcribe import TranscribeApi
from service.local.sim.transcription import Transcriber
from service.local.sim.whatsapp import Outbox, SocialApi
from service.local.sim.window import ServiceWindows

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_sns import SNSClient

# The operations served, per botocore service name (the list).
SERVED_OPERATIONS: Final = {
    "connect": (
        "StartChatContact",
        "CreateParticipant",
        "StartContactStreaming",
        "StopContactStreaming",
    ),
    "connectparticipant": (
        "CreateParticipantConnection",
        "SendMessage",
        "SendEvent",
        "StartAttachmentUpload",
        "CompleteAttachmentUpload",
        "GetAttachment",
        "DisconnectParticipant",
        "GetTranscript",
    ),
    "socialmessaging": (
        "SendWhatsAppMessage",
        "GetWhatsAppMessageMedia",
        "PostWhatsAppMessageMedia",
        "DeleteWhatsAppMessageMedia",
        "GetLinkedWhatsAppBusinessAccountPhoneNumber",
        "ListWhatsAppMessageTemplates",
        "GetWhatsAppMessageTemplate",
    ),
    "transcribe": (
        "StartTranscriptionJob",
        "GetTranscriptionJob",
        "ListTranscriptionJobs",
        "DeleteTranscriptionJob",
    ),
}


class Simulator:
    def __init__(
        self,
        *,
        settings: SimSettings,
        sns: SNSClient,
        s3: S3Client,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or Clock()
        self.config = SimConfig.from_settings(settings)
        self.store = ChatStore()
        self.stream = StreamPublisher(sns=sns, account_id=settings.account_id)
        self.hub = ChatHub(
            store=self.store, clock=self.clock, config=self.config, publisher=self.stream
        )
        self.connect = ConnectApi(
            hub=self.hub,
            instance_id=settings.connect_instance_id,
            contact_flow_id=settings.contact_flow_id,
        )
        self.participant = ParticipantApi(hub=self.hub)
        self.attachments = AttachmentApi(hub=self.hub)
        self.agent = AgentDesk(hub=self.hub)
        self.directory = BusinessDirectory(
            BusinessNumber(
                phone_number_id=settings.business_phone_number_id,
                display_phone_number=settings.business_display_number,
                arn=settings.business_phone_number_arn,
                waba_id=settings.waba_id,
                waba_arn=settings.waba_arn,
            )
        )
        self.media = MediaStore()
        self.outbox = Outbox()
        self.windows = ServiceWindows()
        self.templates = TemplateCatalog(default_waba=settings.waba_id)
        self.social = SocialApi(
            directory=self.directory,
            media=self.media,
            outbox=self.outbox,
            s3=s3,
            clock=self.clock,
            templates=self.templates,
            windows=self.windows,
        )
        self.customer = CustomerPhone(
            sns=sns,
            directory=self.directory,
            media=self.media,
            outbox=self.outbox,
            clock=self.clock,
            config=self.config,
            account_id=settings.account_id,
        )
        self.customer.windows = self.windows

        async def undeliverable(message_id: str, code: int, details: str | None) -> object:
            return await self.customer.report_status(
                message_id, "failed", error_code=code, error_details=details
            )

        self.social.undeliverable = undeliverable

        async def accepted(message_id: str) -> object:
            if not self.config.whatsapp_sent_statuses:
                return None
            return await self.customer.report_status(message_id, "sent")

        self.social.accepted = accepted
        self.transcribe = TranscribeApi(
            transcriber=Transcriber(s3=s3, media=self.media, account_id=settings.account_id),
            clock=self.clock,
            config=self.config,
            region=settings.region,
        )
        self.faults = FaultInjector(rng=rng or random.Random())
        self.changes = Changes()

    def handlers(self) -> dict[tuple[str, str], Handler]:
        connect, participant, social = self.connect, self.participant, self.social
        attachments, transcribe = self.attachments, self.transcribe
        return {
            ("connect", "StartChatContact"): connect.start_chat_contact,
            ("connect", "CreateParticipant"): connect.create_participant,
            ("connect", "StartContactStreaming"): connect.start_contact_streaming,
            ("connect", "StopContactStreaming"): connect.stop_contact_streaming,
            ("connectparticipant", "CreateParticipantConnection"): (
                participant.create_participant_connection
            ),
            ("connectparticipant", "SendMessage"): participant.send_message,
            ("connectparticipant", "SendEvent"): participant.send_event,
            ("connectparticipant", "StartAttachmentUpload"): attachments.start_attachment_upload,
            ("connectparticipant", "CompleteAttachmentUpload"): (
                attachments.complete_attachment_upload
            ),
            ("connectparticipant", "GetAttachment"): attachments.get_attachment,
            ("connectparticipant", "DisconnectParticipant"): participant.disconnect_participant,
            ("connectparticipant", "GetTranscript"): participant.get_transcript,
            ("socialmessaging", "SendWhatsAppMessage"): social.send_whatsapp_message,
            ("socialmessaging", "GetWhatsAppMessageMedia"): social.get_whatsapp_message_media,
            ("socialmessaging", "PostWhatsAppMessageMedia"): social.post_whatsapp_message_media,
            ("socialmessaging", "DeleteWhatsAppMessageMedia"): (
                social.delete_whatsapp_message_media
            ),
            ("socialmessaging", "GetLinkedWhatsAppBusinessAccountPhoneNumber"): (
                social.get_linked_whatsapp_business_account_phone_number
            ),
            ("socialmessaging", "ListWhatsAppMessageTemplates"): (
                social.list_whatsapp_message_templates
            ),
            ("socialmessaging", "GetWhatsAppMessageTemplate"): social.get_whatsapp_message_template,
            ("transcribe", "StartTranscriptionJob"): transcribe.start_transcription_job,
            ("transcribe", "GetTranscriptionJob"): transcribe.get_transcription_job,
            ("transcribe", "ListTranscriptionJobs"): transcribe.list_transcription_jobs,
            ("transcribe", "DeleteTranscriptionJob"): transcribe.delete_transcription_job,
        }

    def reset(self) -> None:
        """Back to a fresh world: no chats, media, sends, faults; config and clock as started."""
        self.store.clear()
        self.stream.forget()
        fresh = SimConfig.from_settings(self.settings)
        for field in fields(SimConfig):
            setattr(self.config, field.name, getattr(fresh, field.name))
        self.clock.reset()
        self.directory.reset()
        self.media.clear()
        self.outbox.clear()
        self.windows.clear()
        self.templates.reset()
        self.customer.clear()
        self.transcribe.reset()
        self.faults.clear()

    async def aclose(self) -> None:
        """Stop background work (transcription jobs) before the clients close."""
        await self.transcribe.aclose()
