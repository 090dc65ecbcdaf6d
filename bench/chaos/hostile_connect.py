"""Hostile and odd Connect streaming events: the outbound twin of bench/hostile.py.

Each event is what could land in the outbound queue instead of a clean Connect chat item:
broken JSON, absurd nesting, wrong types, unknown content types, events for contacts the
bridge never started, huge contents, nested or malformed interactive JSON. None of them
may reach a customer or cost a valid reply its place.

Events for real chats (`contacts`) are limited to shapes that must never produce a
WhatsApp message (the customer's own echo, unknown content types, malformed interactive
or attachment items, garbage receipts): a well-formed agent message for a real chat is
indistinguishable from the agent's own, so it is not hostile. Shapes that look like agent
messages target contacts nobody started.

Transports alternate: published to the outbound SNS topic with the attributes Connect sets
(so the subscription's filter lets them through), or written straight into the queue,
as an SNS envelope or as a raw-delivery body with SQS message attributes.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

_PREFIX = "application/vnd.amazonaws.connect."
_HUGE_CHARS = 200_000  # under the 256 KiB SNS/SQS limit once wrapped
Transport = Literal["sns", "sqs"]


@dataclass(frozen=True, slots=True)
class HostileEvent:
    label: str
    transport: Transport
    body: str
    # Message attributes (SNS publish, or SQS raw delivery); None for bodies sent as-is.
    attributes: dict[str, str] | None


def _iso(seconds_ago: float) -> str:
    moment = datetime.fromtimestamp(time.time() - seconds_ago, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _item(
    contact: str,
    *,
    role: Any = "AGENT",
    kind: Any = "MESSAGE",
    content_type: Any = "text/plain",
    content: Any = "hello",
    seconds_ago: float = 0.0,
    **extra: Any,
) -> dict[str, Any]:
    item = {
        "Id": str(uuid.uuid4()),
        "Type": kind,
        "ParticipantId": str(uuid.uuid4()),
        "ParticipantRole": role,
        "DisplayName": "Chaos",
        "ContentType": content_type,
        "Content": content,
        "AbsoluteTime": _iso(seconds_ago),
        "InitialContactId": contact,
        "ContactId": contact,
    }
    return item | extra


def _attributes(item: dict[str, Any]) -> dict[str, str]:
    attributes = {"MessageVisibility": "ALL", "AccountId": "123456789012"}
    for name in ("InitialContactId", "ContactId", "ParticipantRole", "Type", "ContentType"):
        value = item.get(name)
        if isinstance(value, str) and value:
            attributes[name] = value
    return attributes


Shape = Callable[[], dict[str, Any] | str]


def _raw_shapes(rng: random.Random) -> list[tuple[str, Shape]]:
    """Bodies that are not Connect items at all (sent to the queue as they are)."""
    return [
        ("not-json", lambda: "{{ not json " + "x" * rng.randint(0, 300)),
        ("nested-array", lambda: _nested(rng.randint(2000, 9000))),
        ("nested-object", lambda: '{"a":' * 3000 + "1" + "}" * 3000),
        ("json-scalar", lambda: rng.choice(["42", "null", '"text"', "true", "[1, 2, 3]"])),
        ("empty-object", lambda: "{}"),
        ("envelope-message-broken", lambda: json.dumps({"Type": "Notification", "Message": "{"})),
        (
            "envelope-message-nested",
            lambda: json.dumps({"Type": "Notification", "Message": _nested(5000)}),
        ),
        ("envelope-message-number", lambda: json.dumps({"Type": "Notification", "Message": 7})),
        (
            "envelope-attributes-garbage",
            lambda: json.dumps(
                {
                    "Type": "Notification",
                    "Message": json.dumps(_item(str(uuid.uuid4()), seconds_ago=7200)),
                    "MessageAttributes": rng.choice(["nope", [1, 2], {"ContactId": 5}]),
                }
            ),
        ),
        ("unicode-junk", lambda: "\ufeff{" + "\u202e" * 50),
    ]


def _unknown_contact_shapes(rng: random.Random) -> list[tuple[str, Shape]]:
    """Agent-looking items for contacts the bridge never started."""

    def unknown() -> str:
        return str(uuid.uuid4())

    return [
        ("unknown-contact-fresh", lambda: _item(unknown())),
        ("unknown-contact-old", lambda: _item(unknown(), seconds_ago=7200)),
        ("unknown-contact-bad-time", lambda: _item(unknown(), AbsoluteTime="yesterday")),
        ("huge-unknown-contact", lambda: _item(unknown(), content="x" * _HUGE_CHARS)),
        (
            "wrong-types",
            lambda: _item(
                unknown(),
                kind=rng.choice([["MESSAGE"], 5, None]),
                content=rng.choice([123, {"a": 1}, None]),
                content_type=rng.choice([{"a": 1}, 7, ""]),
                role=rng.choice([["AGENT"], 1, "ROBOT"]),
                AbsoluteTime=rng.choice([99, [], "2026-13-45T99:99:99Z"]),
                Id=rng.choice([1, {}, ""]),
            ),
        ),
        (
            "contact-id-wrong-type",
            lambda: _item("x", InitialContactId=rng.choice([42, ["a"], {"b": 1}]), ContactId=1.5),
        ),
        (
            "attachment-missing",
            lambda: _item(
                unknown(),
                kind="ATTACHMENT",
                content_type="application/pdf",
                content=None,
                Attachments=[
                    {
                        "AttachmentId": f"att-{uuid.uuid4()}",
                        "AttachmentName": "invoice.pdf",
                        "ContentType": "application/pdf",
                        "Status": "APPROVED",
                    }
                ],
            ),
        ),
        (
            "chat-ended-unknown",
            lambda: _item(
                unknown(), kind="EVENT", role="SYSTEM", content_type=_PREFIX + "event.chat.ended"
            ),
        ),
    ]


def _real_contact_shapes(rng: random.Random, contacts: Sequence[str]) -> list[tuple[str, Shape]]:
    """Items for live chats that must never produce a WhatsApp message."""

    def real() -> str:
        return rng.choice(contacts)

    interactive = _PREFIX + "message.interactive"
    return [
        (
            "huge-customer-echo",
            lambda: _item(real(), role="CUSTOMER", content="y" * _HUGE_CHARS),
        ),
        ("unknown-content-type", lambda: _item(real(), content_type="application/x-chaos")),
        (
            "unknown-event-type",
            lambda: _item(real(), kind="EVENT", content_type=_PREFIX + "event.chaos.unknown"),
        ),
        (
            "interactive-nested",
            lambda: _item(real(), content_type=interactive, content=_nested(5000)),
        ),
        (
            "interactive-deep-object",
            lambda: _item(
                real(),
                content_type=interactive,
                content='{"templateType":"ListPicker","data":' * 2000 + "1" + "}" * 2000,
            ),
        ),
        (
            "interactive-wrong-types",
            lambda: _item(
                real(),
                content_type=interactive,
                content=json.dumps(
                    rng.choice(
                        [
                            {"templateType": 5, "version": [], "data": "x"},
                            {
                                "templateType": "ListPicker",
                                "version": "1.0",
                                "data": {"content": {"title": {"x": 1}, "elements": "nope"}},
                            },
                            {"templateType": "QuickReply", "data": {"content": None}},
                        ]
                    )
                ),
            ),
        ),
        (
            "interactive-not-json",
            lambda: _item(real(), content_type=interactive, content="{templateType: ListPicker"),
        ),
        (
            "attachment-garbage",
            lambda: _item(
                real(),
                kind="ATTACHMENT",
                content_type="application/pdf",
                content=None,
                Attachments=rng.choice(["nope", [{"AttachmentId": 5}], [None]]),
            ),
        ),
        (
            "receipt-garbage",
            lambda: _item(
                real(),
                kind="EVENT",
                content_type=_PREFIX + "event.message.read",
                content=rng.choice(["not json", "[]", '{"messageId": 5}']),
            ),
        ),
    ]


def _wrap(label: str, made: dict[str, Any] | str, index: int) -> HostileEvent:
    if isinstance(made, str):
        return HostileEvent(label, "sqs", made, None)
    body = json.dumps(made, ensure_ascii=False)
    transport = index % 3
    if transport == 0:
        return HostileEvent(label, "sns", body, _attributes(made))
    if transport == 1:
        envelope = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "Message": body,
            "MessageAttributes": {
                name: {"Type": "String", "Value": value}
                for name, value in _attributes(made).items()
            },
        }
        return HostileEvent(label, "sqs", json.dumps(envelope, ensure_ascii=False), None)
    return HostileEvent(label, "sqs", body, _attributes(made))


def hostile_connect_events(
    count: int, *, contacts: Sequence[str], seed: int = 13
) -> Iterator[HostileEvent]:
    """`count` hostile events, the shapes in a shuffled cycle (real-chat shapes need chats)."""
    rng = random.Random(seed)
    shapes = _raw_shapes(rng) + _unknown_contact_shapes(rng)
    if contacts:
        shapes += _real_contact_shapes(rng, contacts)
    for index in range(count):
        if index % len(shapes) == 0:
            rng.shuffle(shapes)
        label, make = shapes[index % len(shapes)]
        yield _wrap(label, make(), index)
