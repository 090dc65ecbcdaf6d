"""Settings of the Connect / WhatsApp simulator (`SANDBOX_*` environment variables).

The `make dev` supervisor and `.sandbox/env` set these by name, so the env names are part
of the sandbox's interface.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.local import constants

# The inbound topic the bootstrap creates under the default resource-name prefix
# (`service.settings.ResourceSettings`); the supervisor overrides it when the prefix differs.
_DEFAULT_INBOUND_TOPIC = "wa-bridge-whatsapp-in"


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
    aws_endpoint_url: str | None = Field(
        default=None,
        description="Embedded AWS (SNS, S3) endpoint; unset means botocore's own "
        "AWS_ENDPOINT_URL variables.",
    )

    @property
    def public_url(self) -> str:
        base = self.sim_url or f"http://{self.sim_host}:{self.sim_port}"
        return base.rstrip("/")
