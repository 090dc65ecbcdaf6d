"""Deployment options, read from CDK context (`cdk.json` or `-c key=value`).

Context from the command line arrives as strings, from cdk.json as JSON values; both are
accepted. Every problem is reported at once, before any construct is built.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aws_cdk import aws_logs as logs
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from service.settings import ResourceNames, ResourceSettings

# Placeholders of the Connect configuration until the operator passes real ids; the bridge
# reads the parameter at run time, so they can also be fixed later in SSM directly.
PLACEHOLDER_INSTANCE_ID = "INSTANCE_ID"
PLACEHOLDER_CONTACT_FLOW_ID = "CONTACT_FLOW_ID"
MIN_TASKS = 2
# AWS takes /16 to /28; this VPC's subnets (two public /24, two private /22 for the task
# ENIs) need at least a /20.
MIN_VPC_PREFIX = 16
MAX_VPC_PREFIX = 20
# The retention periods CloudWatch Logs accepts, in days.
_R = logs.RetentionDays
LOG_RETENTION: dict[int, logs.RetentionDays] = {
    1: _R.ONE_DAY, 3: _R.THREE_DAYS, 5: _R.FIVE_DAYS, 7: _R.ONE_WEEK, 14: _R.TWO_WEEKS,
    30: _R.ONE_MONTH, 60: _R.TWO_MONTHS, 90: _R.THREE_MONTHS, 120: _R.FOUR_MONTHS,
    150: _R.FIVE_MONTHS, 180: _R.SIX_MONTHS, 365: _R.ONE_YEAR, 400: _R.THIRTEEN_MONTHS,
    545: _R.EIGHTEEN_MONTHS, 731: _R.TWO_YEARS, 1096: _R.THREE_YEARS, 1827: _R.FIVE_YEARS,
    2192: _R.SIX_YEARS, 2557: _R.SEVEN_YEARS, 2922: _R.EIGHT_YEARS, 3288: _R.NINE_YEARS,
    3653: _R.TEN_YEARS,
}  # fmt: skip
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})

T = TypeVar("T")


class DeployOptionsError(ValueError):
    """The context values are unusable; the message names every problem."""


class ContextResourceSettings(ResourceSettings):
    """`ResourceSettings` from explicit values only.

    The service reads `BRIDGE_*` from its environment; at synthesis the environment is the
    deployer's shell, which must not rename production resources behind the context's back.
    """

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        del settings_cls, env_settings, dotenv_settings, file_secret_settings
        return (init_settings,)


@dataclass(frozen=True, slots=True)
class DeployOptions:
    name_prefix: str = "wa-bridge"
    deletion_protection: bool = True
    connect_instance_id: str = PLACEHOLDER_INSTANCE_ID
    contact_flow_id: str = PLACEHOLDER_CONTACT_FLOW_ID
    # Migration from the old sample: read its parameter instead of creating one.
    existing_config_parameter: str | None = None
    vpc_id: str | None = None
    vpc_cidr: str = "10.0.0.0/16"
    nat_gateways: int = 2
    desired_count: int = MIN_TASKS
    max_count: int = 6
    task_cpu: int = 512
    task_memory_mib: int = 1024
    log_retention_days: int = 30
    alarm_email: str | None = None
    error_log_threshold: int = 10

    @property
    def pinned_connect_instance(self) -> str | None:
        """The Connect instance id, unless it is still the placeholder."""
        known = self.connect_instance_id != PLACEHOLDER_INSTANCE_ID
        return self.connect_instance_id if known else None

    @property
    def log_retention(self) -> logs.RetentionDays:
        return LOG_RETENTION[self.log_retention_days]

    def resource_names(self) -> ResourceNames:
        return ContextResourceSettings(
            name_prefix=self.name_prefix, connect_config_parameter=self.existing_config_parameter
        ).resource_names()


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def _optional_text(value: Any) -> str | None:
    return None if value is None or value == "" else _text(value)


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError("must be an integer")


def _cidr(value: Any) -> str:
    network = ipaddress.IPv4Network(_text(value), strict=True)
    if not MIN_VPC_PREFIX <= network.prefixlen <= MAX_VPC_PREFIX:
        raise ValueError(f"a VPC takes a /{MIN_VPC_PREFIX} to /{MAX_VPC_PREFIX}")
    return str(network)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise ValueError("must be true or false")


def options_from_context(context: Mapping[str, Any]) -> DeployOptions:
    """Build the options from `context`, the app's context values (unknown keys ignored)."""
    problems: list[str] = []
    values: dict[str, Any] = {}

    def read(key: str, parse: Callable[[Any], T]) -> None:
        if key not in context:
            return
        try:
            values[key] = parse(context[key])
        except (TypeError, ValueError) as exc:
            problems.append(f"  {key}: {exc}")

    read("name_prefix", _text)
    read("deletion_protection", _boolean)
    read("connect_instance_id", _text)
    read("contact_flow_id", _text)
    read("existing_config_parameter", _optional_text)
    read("vpc_id", _optional_text)
    read("vpc_cidr", _cidr)
    for key in ("nat_gateways", "desired_count", "max_count", "task_cpu", "task_memory_mib"):
        read(key, _integer)
    read("log_retention_days", _integer)
    read("alarm_email", _optional_text)
    read("error_log_threshold", _integer)
    if problems:
        raise DeployOptionsError("invalid CDK context:\n" + "\n".join(problems))
    options = DeployOptions(**values)
    _check(options)
    return options


def _check(options: DeployOptions) -> None:
    problems: list[str] = []
    try:
        ContextResourceSettings(name_prefix=options.name_prefix)
    except ValueError as exc:
        problems.append(f"  name_prefix: {exc}")
    if options.desired_count < MIN_TASKS:
        problems.append(
            f"  desired_count: at least {MIN_TASKS} (a task that dies hands its stream shards "
            "and customers to another; with one task nothing is left to take them)"
        )
    if options.max_count < options.desired_count:
        problems.append("  max_count: must not be below desired_count")
    if options.log_retention_days not in LOG_RETENTION:
        problems.append(f"  log_retention_days: one of {sorted(LOG_RETENTION)} (CloudWatch Logs)")
    if options.nat_gateways < 1 and options.vpc_id is None:
        problems.append("  nat_gateways: the tasks need at least one to reach AWS APIs")
    if options.error_log_threshold < 1:
        problems.append("  error_log_threshold: at least 1")
    existing = options.existing_config_parameter
    if existing is not None and not existing.startswith("/"):
        problems.append("  existing_config_parameter: a parameter name starting with '/'")
    if problems:
        raise DeployOptionsError("invalid CDK context:\n" + "\n".join(problems))
