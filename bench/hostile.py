"""Hostile and odd inbound events, for the flood campaigns.

`hostile_bodies` yields SQS bodies (SNS `Message` strings, or raw bodies) that must never
reach an agent and never cost a valid message: broken JSON, absurd nesting, wrong types,
impossible keys and sizes, events for unknown numbers, statuses of unknown sends. Each
comes with a short label, so a report can say which shapes were parked and why.

`odd_valid_messages` yields WhatsApp text messages that are valid but unusual (emoji, RTL,
zero-width, NUL, lone surrogates, odd timestamps): they must reach the agent exactly
once. Each text carries a unique ASCII marker a checker can find in the transcript.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

from service.local import constants

_ids = itertools.count(1)


def wamid(prefix: str = "H") -> str:
    return f"wamid.{prefix}{next(_ids):012d}=="


def _context() -> dict[str, Any]:
    return {
        "MetaWabaIds": [{"wabaId": constants.WABA_ID, "arn": constants.WABA_ARN}],
        "MetaPhoneNumberIds": [
            {
                "metaPhoneNumberId": constants.BUSINESS_PHONE_NUMBER_ID,
                "arn": constants.BUSINESS_PHONE_NUMBER_ARN,
            }
        ],
    }


def envelope(
    value: dict[str, Any] | str,
    *,
    message_timestamp: str | None = None,
    field: str = "messages",
) -> str:
    """An EUM event around one `value` (a dict, or a string used verbatim as the entry)."""
    if isinstance(value, str):
        entry: str = value
    else:
        entry = json.dumps(
            {"id": constants.WABA_ID, "changes": [{"field": field, "value": value}]},
            ensure_ascii=False,
        )
    body: dict[str, Any] = {
        "context": _context(),
        "whatsAppWebhookEntry": entry,
        "aws_account_id": constants.ACCOUNT_ID,
        "messageId": "00000000-0000-4000-8000-000000000000",
    }
    body["message_timestamp"] = message_timestamp or time.strftime(
        "%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()
    )
    return json.dumps(body)


def _value(wa_id: str | None, message: dict[str, Any], name: str = "Ana") -> dict[str, Any]:
    contact: dict[str, Any] = {"profile": {"name": name}}
    if wa_id is not None:
        contact["wa_id"] = wa_id
        message = {"from": wa_id, **message}
    return {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": constants.BUSINESS_DISPLAY_NUMBER,
            "phone_number_id": constants.BUSINESS_PHONE_NUMBER_ID,
        },
        "contacts": [contact],
        "messages": [message],
    }


def text_message(body: str, *, timestamp: int | str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": wamid("V"),
        "timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "type": "text",
        "text": {"body": body},
    } | extra


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _hostile_shapes(rng: random.Random) -> list[tuple[str, Callable[[], str]]]:
    """(label, factory of one SQS body) for every hostile shape."""
    wa = "5215500000000"

    def msg(**fields: Any) -> str:
        return envelope(_value(wa, {"id": wamid(), "timestamp": "1772450000"} | fields))

    return [
        ("nested-body", lambda: _nested(rng.randint(2000, 9000))),
        ("nested-object", lambda: '{"a":' * 3000 + "1" + "}" * 3000),
        ("not-json", lambda: "not json at all " + "x" * rng.randint(0, 200)),
        ("json-array", lambda: json.dumps([1, 2, 3])),
        ("json-number", lambda: "42"),
        ("json-string", lambda: json.dumps("a string")),
        ("empty-object", lambda: "{}"),
        ("no-context", lambda: json.dumps({"whatsAppWebhookEntry": "{}"})),
        ("entry-not-json", lambda: envelope("{broken")),
        ("entry-nested", lambda: envelope(_nested(5000))),
        (
            "entry-wrong-type",
            lambda: json.dumps({"context": _context(), "whatsAppWebhookEntry": 7}),
        ),
        (
            "unknown-business",
            lambda: envelope(
                {
                    "metadata": {"phone_number_id": "999"},
                    "messages": [{"id": wamid(), "timestamp": "1", "type": "text"}],
                }
            ),
        ),
        ("no-metadata", lambda: envelope({"messages": []})),
        (
            "no-identity",
            lambda: envelope(
                _value(
                    None, {"id": wamid(), "timestamp": "1", "type": "text", "text": {"body": "x"}}
                )
            ),
        ),
        ("text-without-text", lambda: msg(type="text")),
        ("timestamp-not-number", lambda: msg(type="text", text={"body": "x"}, timestamp="soon")),
        ("timestamp-too-big", lambda: msg(type="text", text={"body": "x"}, timestamp=str(10**40))),
        (
            "key-too-long",
            lambda: envelope(
                _value(
                    "5" * 3000,
                    {"id": wamid(), "timestamp": "1", "type": "text", "text": {"body": "x"}},
                )
            ),
        ),
        (
            "id-too-long",
            lambda: envelope(
                _value(
                    wa, {"id": "w" * 1500, "timestamp": "1", "type": "text", "text": {"body": "x"}}
                )
            ),
        ),
        (
            "statuses-unknown",
            lambda: envelope(
                {
                    "metadata": {"phone_number_id": constants.BUSINESS_PHONE_NUMBER_ID},
                    "statuses": [
                        {
                            "id": wamid(),
                            "status": rng.choice(["sent", "delivered", "read", "failed"]),
                            "timestamp": "1",
                        }
                    ],
                }
            ),
        ),
        (
            "status-bad",
            lambda: envelope(
                {
                    "metadata": {"phone_number_id": constants.BUSINESS_PHONE_NUMBER_ID},
                    "statuses": [{"status": "read"}],
                }
            ),
        ),
        (
            "other-field",
            lambda: envelope({"event": "APPROVED"}, field="message_template_status_update"),
        ),
        (
            "location-infinite",
            lambda: msg(type="location", location={"latitude": 1e309, "longitude": "x"}),
        ),
        ("contacts-garbage", lambda: msg(type="contacts", contacts="nope")),
        ("interactive-garbage", lambda: msg(type="interactive", interactive={"type": 5})),
        ("reaction-garbage", lambda: msg(type="reaction", reaction=[])),
        (
            "many-changes",
            lambda: envelope(json.dumps({"id": "1", "changes": [{"field": "x"}] * 2000})),
        ),
        ("null-bytes", lambda: "\x00" * 100),
        ("unicode-junk", lambda: "\ufeff{" + "\u202e" * 50),
    ]


def hostile_bodies(count: int, *, seed: int = 7) -> Iterator[tuple[str, str]]:
    """`count` hostile (label, body) pairs, the shapes in a shuffled cycle."""
    rng = random.Random(seed)
    shapes = _hostile_shapes(rng)
    for index in range(count):
        if index % len(shapes) == 0:
            rng.shuffle(shapes)
        label, make = shapes[index % len(shapes)]
        yield label, make()


_ODD_TEXTS = (
    "emoji 👩‍👩‍👧‍👦🏳️‍🌈🇲🇽 {m}",
    "rtl مرحبا بكم {m} שלום",
    "zero\u200bwidth\u200d joiners\ufeff {m}",
    "nul \x00 inside {m}",
    "lone \ud83d surrogate {m}",
    "combining e\u0301\u0301\u0301 {m}",
    "tabs\tand\r\nnewlines {m}",
    "*not markdown* _for_ ~the~ `agent` {m}",
    "{m} " + "long " * 700,
)


def odd_valid_messages(count: int, *, seed: int = 11) -> Iterator[tuple[str, str, str]]:
    """`count` (customer wa_id, marker, SQS body) of valid-but-odd single-message events."""
    rng = random.Random(seed)
    now = int(time.time())
    for index in range(count):
        marker = f"ODD{index:05d}"
        template = _ODD_TEXTS[index % len(_ODD_TEXTS)]
        wa_id = f"52166{index % 40:08d}"
        # Odd but deliverable times: long ago, a little in the future, an impossible date
        # in the envelope (only an ordering hint).
        timestamp = rng.choice([now, now - 86_400 * 3, now + 30, 0])
        stamp = rng.choice([None, "2025-02-30T10:00:00.123Z", "garbage"])
        message = text_message(template.format(m=marker), timestamp=timestamp)
        yield wa_id, marker, envelope(_value(wa_id, message), message_timestamp=stamp)
