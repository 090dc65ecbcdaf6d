"""Knobs of the simulated world that tests change at run time (`POST /sandbox/config`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from service.local.sim.settings import SimSettings

MEBIBYTE = 1024 * 1024


@dataclass(slots=True)
class SimConfig:
    inbound_topic_arn: str
    connection_token_ttl_s: float
    public_url: str
    # A lower text limit than the model's 16384, as some channels enforce (1024 in old docs).
    connect_text_limit: int | None = None
    # Connect's default quota of concurrent active chats per instance.
    max_active_chats: int = 500
    max_attachments_per_chat: int = 35
    # Connect's default; UpdateAttachedFilesConfiguration allows 1 MB to 100 MB.
    max_attachment_bytes: int = 20 * MEBIBYTE
    # Extensions allowed beyond Connect's defaults (".ogg", ...), as an instance's
    # UpdateAttachedFilesConfiguration would add them.
    connect_extra_extensions: list[str] = field(default_factory=list)
    connect_window_s: float = 300.0
    upload_url_ttl_s: float = 300.0
    default_chat_duration_minutes: int = 25 * 60
    agent_display_name: str = "Agent"
    # The contact flow disconnects every new chat right after streaming starts, before
    # the customer participant joins (an out-of-hours flow, say).
    flow_ends_new_chats: bool = False
    # How long a transcription job stays IN_PROGRESS at least (0: as long as the work takes).
    transcribe_job_min_s: float = 0.0
    # Concurrent transcription jobs before LimitExceededException (or QUEUED when deferred).
    transcribe_max_concurrent_jobs: int = 250
    # WhatsApp reports `sent` for every message it accepted, a moment after the answer;
    # off by default so tests see only the statuses they ask for (/sandbox/whatsapp/statuses).
    whatsapp_sent_statuses: bool = False

    @classmethod
    def from_settings(cls, settings: SimSettings) -> SimConfig:
        return cls(
            inbound_topic_arn=settings.inbound_topic_arn,
            connection_token_ttl_s=settings.connection_token_ttl_s,
            public_url=settings.public_url,
            max_attachment_bytes=settings.connect_max_attachment_bytes,
            connect_extra_extensions=settings.extra_extensions(),
            transcribe_job_min_s=settings.transcribe_job_min_s,
        )

    def describe(self) -> dict[str, Any]:
        return asdict(self)
