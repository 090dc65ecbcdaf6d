"""Knobs of the simulated world that tests change at run time (`POST /sandbox/config`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
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
    max_attachment_bytes: int = 20 * MEBIBYTE
    connect_window_s: float = 300.0
    upload_url_ttl_s: float = 300.0
    default_chat_duration_minutes: int = 25 * 60
    agent_display_name: str = "Agent"
    # The contact flow disconnects every new chat right after streaming starts, before
    # the customer participant joins (an out-of-hours flow, say).
    flow_ends_new_chats: bool = False

    @classmethod
    def from_settings(cls, settings: SimSettings) -> SimConfig:
        return cls(
            inbound_topic_arn=settings.inbound_topic_arn,
            connection_token_ttl_s=settings.connection_token_ttl_s,
            public_url=settings.public_url,
        )

    def describe(self) -> dict[str, Any]:
        return asdict(self)
