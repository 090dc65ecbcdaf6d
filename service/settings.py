"""The bridge's one settings object.

Built from `BRIDGE_*` environment variables before the event loop starts and passed down
explicitly; nothing else in the service reads the environment. AWS endpoints are not
settings of ours: botocore reads `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "BRIDGE_"

_NAME_PREFIX = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
_PLACEHOLDER_TOKENS = frozenset({"changeme", "changethis", "token", "secret", "admin"})


class SettingsError(Exception):
    """Startup configuration is unusable; the message names every problem."""


@dataclass(frozen=True, slots=True)
class ResourceNames:
    """Physical names of every AWS resource the bridge uses (see `service.resources`)."""

    raw_table: str
    sessions_table: str
    leases_table: str
    idempotency_table: str
    inbound_queue: str
    inbound_dlq: str
    outbound_queue: str
    outbound_dlq: str
    inbound_topic: str
    outbound_topic: str
    media_bucket: str
    connect_config_parameter: str
    inbound_topic_parameter: str


class ResourceSettings(BaseSettings):
    """Names of the resources; shared by `run` and `bootstrap`.

    Every name defaults to one derived from `name_prefix`, so a sandbox needs nothing set,
    while a deployment (CDK) passes the physical names it created.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    name_prefix: str = Field(
        default="wa-bridge",
        description="Prefix of every derived resource name.",
    )
    raw_table: str | None = Field(default=None, description="Raw-messages table.")
    sessions_table: str | None = Field(default=None, description="Sessions table.")
    leases_table: str | None = Field(default=None, description="Stream shard leases table.")
    idempotency_table: str | None = Field(default=None, description="Idempotency claims table.")
    inbound_queue: str | None = Field(default=None, description="Inbound (WhatsApp) queue.")
    inbound_dlq: str | None = Field(default=None, description="Inbound dead-letter queue.")
    outbound_queue: str | None = Field(default=None, description="Outbound (Connect) queue.")
    outbound_dlq: str | None = Field(default=None, description="Outbound dead-letter queue.")
    inbound_topic: str | None = Field(default=None, description="Inbound SNS topic name.")
    outbound_topic: str | None = Field(default=None, description="Outbound SNS topic name.")
    media_bucket: str | None = Field(default=None, description="Media S3 bucket.")
    connect_config_parameter: str | None = Field(
        default=None,
        description="SSM parameter holding the Connect configuration JSON "
        "(the old sample's `/whatsapp_eum_connect_chat/config` works unchanged).",
    )
    inbound_topic_parameter: str | None = Field(
        default=None, description="SSM parameter holding the inbound topic ARN."
    )

    @field_validator("name_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not _NAME_PREFIX.match(value):
            raise ValueError(
                "must be 2-40 characters of lower-case letters, digits and '-', "
                "starting with a letter"
            )
        return value

    def resource_names(self) -> ResourceNames:
        p = self.name_prefix
        return ResourceNames(
            raw_table=self.raw_table or f"{p}-raw-messages",
            sessions_table=self.sessions_table or f"{p}-sessions",
            leases_table=self.leases_table or f"{p}-leases",
            idempotency_table=self.idempotency_table or f"{p}-idempotency",
            inbound_queue=self.inbound_queue or f"{p}-inbound",
            inbound_dlq=self.inbound_dlq or f"{p}-inbound-dlq",
            outbound_queue=self.outbound_queue or f"{p}-outbound",
            outbound_dlq=self.outbound_dlq or f"{p}-outbound-dlq",
            inbound_topic=self.inbound_topic or f"{p}-whatsapp-in",
            outbound_topic=self.outbound_topic or f"{p}-connect-out",
            media_bucket=self.media_bucket or f"{p}-media",
            connect_config_parameter=self.connect_config_parameter or f"/{p}/connect-config",
            inbound_topic_parameter=self.inbound_topic_parameter or f"/{p}/inbound-topic-arn",
        )


Seconds = Annotated[float, Field(gt=0)]


class Settings(ResourceSettings):
    """Everything `python -m service run` needs."""

    # -- admin API
    admin_host: str = Field(
        default="127.0.0.1",
        description="Admin API bind address (the container image sets 0.0.0.0).",
    )
    admin_port: int = Field(
        default=8080, ge=0, le=65535, description="Admin API port (0: any free port)."
    )
    admin_token: SecretStr = Field(
        description="Bearer token for /admin/* routes (at least 16 characters). Required.",
    )

    # -- outbound wiring
    outbound_topic_arn: str = Field(
        description="ARN of the SNS topic Connect contact streaming publishes to "
        "(passed to StartContactStreaming). Required.",
        pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$",
    )
    connect_config_refresh_s: Seconds = Field(
        default=60.0, description="How often the Connect configuration is re-read from SSM."
    )

    meta_api_version: str = Field(
        default="v20.0",
        pattern=r"^v\d+\.\d+$",
        description="Meta Graph API version passed to SendWhatsAppMessage.",
    )

    # -- inbound: buffering and delivery
    buffer_quiet_s: Seconds = Field(
        default=5.0, description="Deliver a customer's burst after this long without a message."
    )
    buffer_max_wait_s: Seconds = Field(
        default=20.0, description="Deliver a burst at the latest this long after its first message."
    )
    buffer_max_burst_messages: int = Field(
        default=50, ge=1, le=99, description="Most messages delivered as one burst."
    )
    buffer_max_customers: int = Field(
        default=10_000, ge=1, description="Most customers buffered at once (then reading pauses)."
    )
    buffer_max_messages: int = Field(
        default=50_000, ge=1, description="Most messages buffered at once (then reading pauses)."
    )
    connect_text_limit: int = Field(
        default=1024,
        ge=64,
        le=16_384,
        description="Longest Connect chat message, in characters; longer text is split "
        "(and split further if Connect refuses a size).",
    )

    # -- inbound media: customer files → Connect chat attachments
    media_attachments: bool = Field(
        default=True,
        description="Forward customers' photos, documents, videos, audio and stickers as chat "
        "attachments (off: the agent sees a line such as [Image] instead).",
    )
    connect_max_attachment_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1_000_000,
        le=104_857_600,
        description="Largest chat attachment the Connect instance accepts "
        "(UpdateAttachedFilesConfiguration; larger files become a note for the agent).",
    )
    connect_extra_extensions: str = Field(
        default="",
        description="Attachment extensions the instance allows beyond Connect's defaults, comma "
        "separated (e.g. .ogg,.webp): files of these types are sent unconverted.",
    )
    media_conversion_cpu_s: Seconds = Field(
        default=20.0,
        description="CPU time one media conversion (WebP to PNG, audio to WAV, 3gp to mp4, "
        "an agent's audio to Ogg/Opus) may use.",
    )

    transcribe_languages: str = Field(
        default="en-US,es-US",
        description="Languages voice notes are transcribed in, comma separated Transcribe "
        "codes; two or more: identified automatically among them (empty: no transcripts).",
    )
    transcribe_timeout_s: Seconds = Field(
        default=300.0,
        description="A voice note's transcript that takes longer becomes a note instead.",
    )
    transcript_echo: bool = Field(
        default=False,
        description="Also send a voice note's transcript back to the customer on WhatsApp "
        "(so they can see what the agent read), once, claimed and paced like every send.",
    )
    voice_display_name: str = Field(
        default="WhatsApp",
        min_length=1,
        max_length=256,
        description="Name of the bridge's own chat participant (CUSTOM_BOT), which tells the "
        "agent what the customer cannot (failed sends, edits); its messages never reach "
        "WhatsApp.",
    )

    # -- WhatsApp receipts for the customer
    whatsapp_mark_read: Literal["on_receipt", "on_delivery", "on_agent_read", "never"] = Field(
        default="on_delivery",
        description="When the customer's messages get read ticks (on_agent_read needs the "
        "outbound path).",
    )
    whatsapp_reaction_received: str = Field(
        default="", max_length=8, description="Reaction on each received message (empty: none)."
    )
    whatsapp_reaction_delivered: str = Field(
        default="✅", max_length=8, description="Reaction when a burst reached the agent."
    )
    whatsapp_reaction_failed: str = Field(
        default="❌", max_length=8, description="Reaction on a message that could not be delivered."
    )

    # -- outbound: agent → WhatsApp
    outbound_forward_system: bool = Field(
        default=True, description="Send Connect SYSTEM messages (flow prompts) to the customer."
    )
    outbound_forward_bots: bool = Field(
        default=True, description="Send bot (Lex) messages to the customer."
    )
    outbound_typing_indicators: bool = Field(
        default=True, description="Show the agent's typing on WhatsApp (marks messages read)."
    )
    window_closed: Literal["note", "send", "template"] | None = Field(
        default=None,
        description="An agent's message after the customer's 24-hour WhatsApp window has "
        "closed: note = not sent, the agent is told at once when the window closed and how "
        "it reopens; template = the re-engagement template is sent once and the agent's "
        "messages are held, then delivered in order when the customer replies; send = sent "
        "anyway (WhatsApp reports it undeliverable later, 131047). Unset: template when "
        "BRIDGE_REENGAGE_TEMPLATE is set, else note.",
    )
    reengage_template: str | None = Field(
        default=None,
        max_length=512,
        description="Name of the approved WhatsApp template that invites the customer back "
        "when the window has closed (policy template).",
    )
    reengage_template_language: str = Field(
        default="en_US", max_length=20, description="Language code of that template."
    )
    reengage_template_parameters: str = Field(
        default="{customer_name}|{agent_name}",
        max_length=2048,
        description="Its parameters, header first, separated by |; {customer_name} (the "
        "customer's WhatsApp profile name) and {agent_name} (the agent's display name) are "
        "filled from the chat.",
    )
    held_max_messages: int = Field(
        default=20,
        ge=1,
        le=100,
        description="Agent messages held per chat while waiting for the customer to reply "
        "to the re-engagement template; beyond it the agent is told it was not held.",
    )
    held_ttl_s: Seconds = Field(
        default=24 * 3600.0,
        description="A held message the customer has not reopened the window for in this "
        "long expires: the agent is told it was not delivered.",
    )
    held_sweep_interval_s: Seconds = Field(
        default=30.0,
        description="How often each task looks for held messages to deliver or expire.",
    )
    template_cache_ttl_s: Seconds = Field(
        default=300.0,
        description="How long the business number's approved templates are kept before "
        "they are listed again (/templates, /template, outreach).",
    )
    outreach_ttl_s: Seconds = Field(
        default=7 * 24 * 3600.0,
        description="How long an outreach waits for the customer's reply: a reply within it "
        "opens a chat that names the outreach.",
    )
    outbound_closing_message: str | None = Field(
        default=None,
        max_length=4096,
        description="Text sent to the customer when the chat ends (unset: nothing).",
    )
    outbound_reorder_window_s: float = Field(
        default=0.5,
        ge=0,
        le=10,
        description="How long an agent's item the order gate could not check (typing, "
        "receipts, no GetTranscript call to spare) waits in its customer's lane for an "
        "earlier one that another task wrote a moment later; a checked message goes at once.",
    )
    outbound_max_gap_wait_s: float = Field(
        default=20.0,
        ge=0,
        le=300,
        description="How long an agent's message waits for an earlier one that Connect's "
        "transcript shows and its lane has not received yet (0: the transcript is not asked).",
    )
    outbound_gate_quota_wait_s: float = Field(
        default=2.0,
        ge=0,
        le=30,
        description="How long an agent's message may wait for a GetTranscript call under "
        "the client-side quota before going on the reorder window alone (a backlog of "
        "replies after an outage needs more calls than the quota's burst).",
    )
    outbound_max_stuck_s: Seconds = Field(
        default=3600.0,
        description="An agent's item still failing after this long is parked and the agent "
        "is told.",
    )
    pacing_pair_burst: float = Field(
        default=10.0, ge=1, description="Messages to one customer sent back to back at most."
    )
    pacing_pair_interval_s: Seconds = Field(
        default=6.0, description="Then one message to that customer per this many seconds."
    )
    pacing_number_rate_per_s: float = Field(
        default=80.0,
        gt=0,
        description="Messages per second per business number, per task (divide Meta's "
        "80 mps by the number of tasks).",
    )

    # -- consumers
    sqs_max_in_flight_batches: int = Field(
        default=4, ge=1, le=64, description="Received SQS batches handled at once, per queue."
    )
    sqs_batch_window_s: float = Field(
        default=0.2,
        ge=0,
        le=1.0,
        description="After a receive that brought fewer than ten messages, wait this long "
        "before the next one, so it brings what arrived meanwhile: fewer SQS, DynamoDB and "
        "handler calls per message, for at most this much latency.",
    )
    sqs_outbound_batch_window_s: float = Field(
        default=0.05,
        ge=0,
        le=1.0,
        description="The same wait for the outbound queue (the agents' items). An agent's "
        "reply waits on it, and at agents' pace few items share a receive anyway; with "
        "every agent writing in the same second receives come back full without it.",
    )
    sqs_wait_time_s: int = Field(
        default=20,
        ge=1,
        le=20,
        description="SQS long-poll wait. On SIGTERM the poll in flight is let return (cutting "
        "it could strand what SQS handed out), so this also bounds an idle task's stop time.",
    )
    stream_lease_duration_s: Seconds = Field(
        default=10.0, description="A shard lease not renewed for this long may be taken over."
    )
    stream_poll_interval_s: float = Field(
        default=0.25,
        gt=0,
        le=0.25,
        description="GetRecords interval per shard after a short page (bounds the latency "
        "of this hop while records flow).",
    )
    stream_idle_backoff_max_s: float = Field(
        default=1.0,
        ge=0.25,  # never below stream_poll_interval_s
        le=2.0,
        description="A shard that keeps answering empty is asked less often, up to this "
        "interval (idle CPU and GetRecords calls). Records this task writes wake its readers "
        "at once; only a record another task writes onto a quiet shard waits up to this.",
    )
    stream_scan_interval_s: Seconds = Field(
        default=5.0, description="How often shards and leases are re-examined."
    )

    # -- AWS clients
    aws_region: str | None = Field(
        default=None,
        description="AWS region; unset means botocore's own chain (AWS_REGION, "
        "AWS_DEFAULT_REGION, config file).",
    )
    aws_connect_timeout_s: Seconds = Field(default=5.0, description="TCP connect timeout.")
    aws_read_timeout_s: Seconds = Field(
        default=30.0,
        description="Read timeout for AWS calls (SQS adds its long-poll wait on top).",
    )
    aws_max_attempts: int = Field(
        default=5, ge=1, le=20, description="Total attempts per AWS call, retries included."
    )
    aws_retry_mode: Literal["standard", "adaptive"] = Field(
        default="standard", description="botocore retry mode."
    )
    aws_max_pool_connections: int = Field(
        default=50, ge=1, le=1000, description="HTTP connections per AWS client."
    )
    aws_validate_requests: bool = Field(
        default=False,
        description="Check each AWS request against botocore's service model before sending "
        "it (on in the sandbox and the tests; in production CPU spent on requests the code "
        "builds the same way every time).",
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop",
        description="The event loop: uvloop (asyncio where uvloop is not installed) or the "
        "standard library's.",
    )

    # -- process
    task_id: str | None = Field(
        default=None,
        description="Worker identity in leases and logs; defaults to the host name.",
    )
    drain_timeout_s: Seconds = Field(
        default=25.0,
        description="SIGTERM budget for draining; keep it below the ECS stopTimeout.",
    )
    readiness_timeout_s: Seconds = Field(
        default=2.0, description="Per-dependency timeout of the readiness probe."
    )
    readiness_interval_s: Seconds = Field(
        default=15.0,
        description="How often the dependencies are probed while ready (each probe is five "
        "AWS calls); every second while not ready. /readyz answers from the latest probe at "
        "once.",
    )
    cloudwatch_metrics_interval_s: float = Field(
        default=0.0,
        ge=0,
        description="Print CloudWatch Embedded Metric Format lines (stream iterator age, "
        "...) to stdout this often (0: off; the CDK stack sets 60).",
    )

    count_aws_requests: bool = Field(
        default=False,
        description="Count AWS requests by service and operation in /metrics "
        "(bridge_aws_requests_total); for the cost harness, off in production.",
    )

    # -- logging
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: JSON unless stdout is a terminal."
    )
    log_hash_salt: SecretStr = Field(
        default=SecretStr(""),
        description="Key for hashing phone numbers and WhatsApp ids in logs; set it so "
        "hashes cannot be reversed by enumerating numbers.",
    )

    @model_validator(mode="after")
    def _check_windows(self) -> Settings:
        if self.buffer_max_wait_s < self.buffer_quiet_s:
            raise ValueError("BRIDGE_BUFFER_MAX_WAIT_S must not be below BRIDGE_BUFFER_QUIET_S")
        if self.window_closed == "template" and not self.reengage_template:
            raise ValueError("BRIDGE_WINDOW_CLOSED=template needs BRIDGE_REENGAGE_TEMPLATE")
        return self

    @property
    def window_policy(self) -> Literal["note", "send", "template"]:
        """The policy in force: an unset one follows whether a template is configured."""
        if self.window_closed is not None:
            return self.window_closed
        return "template" if self.reengage_template else "note"

    @field_validator("admin_token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if len(raw) < 16:  # noqa: PLR2004  the documented minimum
            raise ValueError("must be at least 16 characters")
        if raw.lower() in _PLACEHOLDER_TOKENS:
            raise ValueError("is a placeholder; generate a random token")
        return value


S = TypeVar("S", bound=ResourceSettings)


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "settings"
        env_name = f"{ENV_PREFIX}{field.upper()}"
        problem = "is required but not set" if item["type"] == "missing" else item["msg"]
        lines.append(f"  {env_name}: {problem}")
    return "invalid configuration:\n" + "\n".join(lines)


def load_settings(cls: type[S]) -> S:
    """Build settings from the environment, or raise one `SettingsError` naming every problem."""
    try:
        return cls()
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def settings_table() -> str:
    """The README's settings table, generated so it cannot drift from the code."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        if info.is_required():
            default = "**required**"
        elif info.default is None:
            default = "derived" if name in ResourceSettings.model_fields else "unset"
        elif isinstance(info.default, SecretStr):
            default = "(empty)"
        else:
            default = f"`{info.default}`"
        description = (info.description or "").replace("|", "\\|")
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {default} | {description} |")
    return "\n".join(rows)
