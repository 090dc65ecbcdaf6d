"""Runtime Amazon Connect configuration, read from SSM and re-read periodically.

The parameter's JSON is the old sample's (`instance_id`, `contact_flow_id`,
`chat_duration_minutes`, `ignore_reactions`, `ignore_stickers`, with "yes"/"no"
strings), so an operator migrating keeps the same parameter. An operator edits it and
every task picks the change up within one refresh interval, without a restart. A bad
edit never replaces the last good value: it is logged and counted, and the old value
stays in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from service.aws_errors import translated
from service.errors import BridgeError

if TYPE_CHECKING:
    from types_aiobotocore_ssm import SSMClient

log = structlog.get_logger(__name__)

_TRUE = {"yes", "y", "true", "1", "on"}
_FALSE = {"no", "n", "false", "0", "off"}


class ConnectConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    instance_id: str = Field(min_length=1, max_length=100)
    contact_flow_id: str = Field(min_length=1, max_length=500)
    # Connect accepts 60..10080; 25 h is Connect's own default and outlives a typical
    # WhatsApp conversation day (the old sample's 60 min cut conversations short).
    chat_duration_minutes: int = Field(default=1500, ge=60, le=10080)
    ignore_reactions: bool = True
    # Stickers arrive as images (a PNG attachment) since media became attachments; the
    # old sample ignored them because Connect refused WebP.
    ignore_stickers: bool = False

    @field_validator("ignore_reactions", "ignore_stickers", mode="before")
    @classmethod
    def _yes_no(cls, value: Any) -> Any:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
        return value

    @field_validator("instance_id", "contact_flow_id")
    @classmethod
    def _not_placeholder(cls, value: str) -> str:
        if value in {"INSTANCE_ID", "CONTACT_FLOW_ID"}:
            raise ValueError("is still the placeholder written at deployment; set the real id")
        return value


class ConnectConfigUnavailableError(Exception):
    """No valid Connect configuration has been loaded yet."""


class InvalidConnectConfigError(Exception):
    """The parameter exists but its value is not a usable configuration."""


def parse_connect_config(raw: str) -> ConnectConfig:
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidConnectConfigError(f"not JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise InvalidConnectConfigError("not JSON: nested too deeply") from exc
    try:
        return ConnectConfig.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidConnectConfigError(problems) from exc


class ConnectConfigStore:
    def __init__(self, *, ssm: SSMClient, parameter: str, refresh_s: float) -> None:
        self._ssm = ssm
        self._parameter = parameter
        self._refresh_s = refresh_s
        self._current: ConnectConfig | None = None
        self._version: int | None = None
        self.last_error: str | None = None

    @property
    def version(self) -> int | None:
        return self._version

    def current(self) -> ConnectConfig:
        if self._current is None:
            raise ConnectConfigUnavailableError(self.last_error or "not loaded yet")
        return self._current

    async def refresh(self) -> ConnectConfig:
        """Load the parameter now; keep the previous value if the new one is unusable."""
        try:
            with translated("ssm", "GetParameter"):
                response = await self._ssm.get_parameter(Name=self._parameter)
            value = response["Parameter"]["Value"]
            version = response["Parameter"].get("Version")
            config = parse_connect_config(value)
        except (BridgeError, InvalidConnectConfigError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning(
                "connect_config_rejected",
                parameter=self._parameter,
                reason=self.last_error,
                keeping_version=self._version,
            )
            if self._current is None:
                raise ConnectConfigUnavailableError(self.last_error) from exc
            return self._current
        if config != self._current:
            log.info(
                "connect_config_loaded",
                parameter=self._parameter,
                version=version,
                instance_id=config.instance_id,
                chat_duration_minutes=config.chat_duration_minutes,
            )
        self._current, self._version, self.last_error = config, version, None
        return config

    async def check(self) -> None:
        """Readiness: a usable configuration is in force."""
        self.current()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            # Already logged; readiness reports it until a good value arrives.
            with contextlib.suppress(ConnectConfigUnavailableError):
                await self.refresh()
            try:
                async with asyncio.timeout(self._refresh_s):
                    await stop.wait()
            except TimeoutError:
                continue
