"""structlog configuration and the PII filter every log line passes through.

JSON to stdout when it is not a terminal (containers), a console renderer otherwise.
Standard-library loggers (uvicorn, botocore, moto) go through the same processors via
`ProcessorFormatter`, so the redaction below applies to them too.

Redaction: customers' phone numbers and WhatsApp ids are replaced by a keyed hash (stable
within a deployment, so one customer's lines can still be correlated), and participant,
connection and admin tokens are replaced by a marker, both under known keys and inside
free text (a botocore debug line, an access-log path).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Final, Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED: Final = "[redacted]"

# Keys whose values identify a customer: hashed, never shown.
_IDENTITY_KEYS: Final = frozenset(
    {
        "wa_id",
        "from",
        "from_user_id",
        "user_id",
        "bsuid",
        "recipient",
        "recipient_id",
        "to",
        "phone",
        "phone_number",
        "customer",
        "customer_id",
        "customer_key",
        "display_phone_number",
    }
)
# Keys whose values are credentials: removed.
_SECRET_KEYS: Final = frozenset(
    {
        "participant_token",
        "participanttoken",
        "connection_token",
        "connectiontoken",
        "x-amz-bearer",
        "authorization",
        "admin_token",
        "token",
        "password",
        "secret",
    }
)

# Free text: "+5215512345678", "5215512345678" (8-15 digits, not part of a longer number
# or of a UUID / ARN segment), and business-scoped user ids such as "US.13491208655302741918".
_PHONE_RE: Final = re.compile(r"(?<![\w.\-:])\+?\d{8,15}(?![\w\-])")
_BSUID_RE: Final = re.compile(r"\b[A-Z]{2}\.[A-Za-z0-9]{8,128}\b")
# A credential named in free text: `ConnectionToken': 'abc'`, `X-Amz-Bearer=abc`,
# `Authorization: Bearer abc`.
_SECRET_IN_TEXT_RE: Final = re.compile(
    r"(?i)((?:participant|connection)_?token|x-amz-bearer|authorization|admin_token)"
    r"(['\"]?\s*[:=]\s*['\"]?)(?:bearer\s+)?([^'\"\s,}&]+)"
)


class Redactor:
    """A structlog processor that hashes customer identities and removes credentials."""

    def __init__(self, salt: bytes = b"") -> None:
        self._salt = salt

    def hash_identity(self, value: str) -> str:
        digest = hmac.new(self._salt, value.encode(), hashlib.sha256).hexdigest()
        return f"h:{digest[:12]}"

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        for key, value in list(event_dict.items()):
            event_dict[key] = self._value(key, value)
        return event_dict

    def scrub_text(self, text: str) -> str:
        text = _SECRET_IN_TEXT_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        text = _BSUID_RE.sub(lambda m: self.hash_identity(m.group(0)), text)
        return _PHONE_RE.sub(lambda m: self.hash_identity(m.group(0).lstrip("+")), text)

    def _value(self, key: str, value: Any) -> Any:
        lowered = key.lower()
        if lowered in _SECRET_KEYS:
            return REDACTED
        if lowered in _IDENTITY_KEYS and isinstance(value, (str, int)):
            return self.hash_identity(str(value).lstrip("+"))
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, Mapping):
            return {k: self._value(str(k), v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._value(key, v) for v in value]
        return value


def _drop_color_message(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # uvicorn adds a second, ANSI-coloured copy of its message; it would be duplicated noise.
    event_dict.pop("color_message", None)
    return event_dict


def configure_logging(
    *,
    level: str = "INFO",
    fmt: Literal["auto", "json", "console"] = "auto",
    salt: bytes = b"",
    stream: Any = None,
) -> Redactor:
    """Configure structlog and the stdlib root logger once, in the composition root."""
    stream = stream if stream is not None else sys.stdout
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    redactor = Redactor(salt)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        # After ExtraAdder: uvicorn passes its coloured copy as an `extra` field.
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _drop_color_message],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            # Last before rendering: exception text and foreign messages are scrubbed too.
            redactor,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lib_logger = logging.getLogger(name)
        lib_logger.handlers.clear()
        lib_logger.propagate = True
    # botocore at DEBUG dumps request bodies (message text); keep it quiet unless asked.
    for name in ("botocore", "aiobotocore", "urllib3"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    return redactor


def bind_worker(context: MutableMapping[str, Any]) -> None:
    """Bind process-wide fields (worker id, ...) to every later log line."""
    structlog.contextvars.bind_contextvars(**context)
