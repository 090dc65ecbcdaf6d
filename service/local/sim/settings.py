"""Settings of the Connect / WhatsApp simulator (`SANDBOX_*` environment variables).

The `make dev` supervisor and `.sandbox/env` set these by name, so the env names are part
of the sandbox's interface.
"""

from __future__ import annotations

from typing import Final

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.local import constants

# The inbound topic the bootstrap creates under the default resource-name prefix
# (`service.settings.ResourceSettings`); the supervisor overrides it when the prefix differs.
_DEFAULT_INBOUND_TOPIC = "wa-bridge-whatsapp-in"
_MEBIBYTE: Final = 1024 * 1024
# UpdateAttachedFilesConfiguration's bounds for a chat attachment's size.
MIN_ATTACHMENT_BYTES: Final = 1_000_000
MAX_ATTACHMENT_BYTES: Final = 104_857_600


def normalize_extensions(names: str | list[str]) -> list[str]:
    """ ".ogg, webp" or [".ogg", "webp"] → [".ogg", ".webp"] (lower case, dotted, unique)."""
    items = names.split(",") if isinstance(names, str) else names
    dotted = ["." + item.strip().lower().lstrip(".") for item in items if item.strip()]
    return list(dict.fromkeys(dotted))


class SimSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANDBOX_", extra="ignore", frozen=True)

    sim_host: str = Field(default="127.0.0.1", description="Bind address of the simulator.")
    sim_port: int = Field(
        default=constants.DEFAULT_SIM_PORT, ge=0, le=65535, description="Simulator port."
    )
    sim_url: str | None = Field(
        default=None,
        description="Public base URL put into upload/download URLs; "
        "defaults to http://{sim_host}:{sim_port}.",
    )
    region: str = constants.REGION
    account_id: str = constants.ACCOUNT_ID
    inbound_topic_arn: str = Field(
        default=f"arn:aws:sns:{constants.REGION}:{constants.ACCOUNT_ID}:{_DEFAULT_INBOUND_TOPIC}",
        description="SNS topic the simulated WhatsApp business account publishes to.",
    )
    business_phone_number_id: str = constants.BUSINESS_PHONE_NUMBER_ID
    business_phone_number_arn: str = constants.BUSINESS_PHONE_NUMBER_ARN
    business_display_number: str = constants.BUSINESS_DISPLAY_NUMBER
    waba_id: str = constants.WABA_ID
    waba_arn: str = constants.WABA_ARN
    connect_instance_id: str = constants.CONNECT_INSTANCE_ID
    contact_flow_id: str = constants.CONTACT_FLOW_ID
    connection_token_ttl_s: float = Field(
        default=86400.0, gt=0, description="Lifetime of Connect participant connection tokens."
    )
    connect_extra_extensions: str = Field(
        default="",
        description="Chat attachment extensions allowed beyond Connect's defaults, comma "
        "separated (e.g. .ogg,.webp,.mp3): what UpdateAttachedFilesConfiguration adds on a "
        "real instance. Mirror the bridge's BRIDGE_CONNECT_EXTRA_EXTENSIONS.",
    )
    connect_max_attachment_bytes: int = Field(
        default=20 * _MEBIBYTE,
        ge=MIN_ATTACHMENT_BYTES,
        le=MAX_ATTACHMENT_BYTES,
        description="Largest chat attachment Connect accepts (default 20 MiB, at most 100 MiB).",
    )
    transcribe_job_min_s: float = Field(
        default=0.0,
        ge=0,
        description="Minimum time a Transcribe job stays IN_PROGRESS; 0 finishes as soon as "
        "the recognition does (tests), tens of seconds look like the real service.",
    )
    admin_urls: str = Field(
        default="",
        description="The bridge workers' admin URLs, space separated (make dev sets them): "
        "the playground shows what their buffers hold. Empty: it shows only what it knows.",
    )
    admin_token: SecretStr | None = Field(
        default=None, description="The bridge's admin token, to read admin_urls."
    )
    aws_endpoint_url: str | None = Field(
        default=None,
        description="Embedded AWS (SNS, S3) endpoint; unset means botocore's own "
        "AWS_ENDPOINT_URL variables.",
    )

    def extra_extensions(self) -> list[str]:
        return normalize_extensions(self.connect_extra_extensions)

    @property
    def public_url(self) -> str:
        base = self.sim_url or f"http://{self.sim_host}:{self.sim_port}"
        return base.rstrip("/")
