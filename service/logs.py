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

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from service.redaction import Redactor


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
