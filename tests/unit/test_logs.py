"""Every log line is structured and free of customer identities and credentials."""

import io
import json
import logging

import pytest
import structlog

from service.logs import configure_logging
from service.redaction import REDACTED, Redactor

PHONE = "5215512345678"
BSUID = "MX.1234567890ABCDEF"
TOKEN = "QVFJREFIaGVsbG8tdGhpcy1pcy1hLXRva2Vu"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def stream():
    out = io.StringIO()
    configure_logging(level="DEBUG", fmt="auto", salt=b"k", stream=out)
    yield out
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_not_a_tty_means_one_json_object_per_line(stream):
    structlog.get_logger("t").info("message_received", queue="inbound", count=3)
    [line] = _lines(stream)
    assert line["event"] == "message_received"
    assert line["count"] == 3
    assert line["level"] == "info"
    assert "timestamp" in line


def test_a_tty_gets_the_console_renderer():
    out = _Tty()
    configure_logging(fmt="auto", stream=out)
    try:
        structlog.get_logger("t").info("hello_console", a=1)
        text = out.getvalue()
        assert "hello_console" in text
        with pytest.raises(json.JSONDecodeError):
            json.loads(text.splitlines()[0])
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()


def test_identity_keys_are_hashed_consistently_and_tokens_removed(stream):
    log = structlog.get_logger("t")
    log.info("a", wa_id=PHONE, participant_token=TOKEN, ConnectionToken=TOKEN)
    log.info("b", customer=f"+{PHONE}", bsuid=BSUID)
    out = stream.getvalue()
    assert PHONE not in out
    assert BSUID not in out
    assert TOKEN not in out
    first, second = _lines(stream)
    assert first["participant_token"] == REDACTED
    assert first["ConnectionToken"] == REDACTED
    # The same customer hashes to the same value with or without "+", so lines correlate.
    assert first["wa_id"] == second["customer"]
    assert str(first["wa_id"]).startswith("h:")


def test_identities_and_tokens_inside_free_text_and_nested_values(stream):
    log = structlog.get_logger("t")
    log.info(
        "c",
        detail=f"POST /sandbox/customers/{PHONE}/messages from {BSUID}",
        headers={"X-Amz-Bearer": TOKEN, "nested": [f"to +{PHONE}"]},
        raw=f"{{'ConnectionToken': '{TOKEN}', 'x': 1}}",
    )
    out = stream.getvalue()
    assert PHONE not in out
    assert BSUID not in out
    assert TOKEN not in out


def test_numbers_that_are_not_phone_numbers_survive(stream):
    seq = "49600000000000000001234567890"  # a stream sequence number (29 digits)
    contact = "12345678-1234-4123-8123-123456789012"
    arn = "arn:aws:sns:us-east-1:123456789012:topic"
    structlog.get_logger("t").info("d", detail=f"seq {seq} contact {contact} arn {arn} port 8080")
    [line] = _lines(stream)
    assert line["detail"] == f"seq {seq} contact {contact} arn {arn} port 8080"


def test_stdlib_loggers_share_the_pipeline_and_the_redaction(stream):
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /x/%s HTTP/1.1" 200', PHONE)
    logging.getLogger("botocore.endpoint").warning("headers {'Authorization': 'Bearer %s'}", TOKEN)
    lines = _lines(stream)
    assert [line["logger"] for line in lines] == ["uvicorn.access", "botocore.endpoint"]
    assert PHONE not in stream.getvalue()
    assert TOKEN not in stream.getvalue()


def _fail() -> None:
    raise ValueError(f"bad customer {PHONE}")


def test_exceptions_are_rendered_and_scrubbed(stream):
    try:
        _fail()
    except ValueError:
        structlog.get_logger("t").exception("failed")
    [line] = _lines(stream)
    assert "ValueError" in str(line["exception"])
    assert PHONE not in stream.getvalue()


def test_hash_is_keyed():
    assert Redactor(b"a").hash_identity(PHONE) != Redactor(b"b").hash_identity(PHONE)


def test_uvicorn_coloured_copy_is_dropped(stream):
    # uvicorn passes an ANSI-coloured duplicate of its message as an `extra` field.
    logging.getLogger("uvicorn.error").info(
        "Finished server process [%d]", 1, extra={"color_message": "\x1b[36m1\x1b[0m"}
    )
    [line] = _lines(stream)
    assert line["event"] == "Finished server process [1]"
    assert "color_message" not in line
