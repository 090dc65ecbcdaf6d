"""Campaign (e)'s traffic: hostile inbound and outbound events, and valid-but-odd messages.

Inbound shapes come from bench/hostile.py, outbound ones from `hostile_connect`. Half of
the inbound bodies are published to the inbound SNS topic (as EUM Social would), half are
written straight into the inbound queue (what SNS cannot filter); the odd valid messages
go through SNS and are recorded as sent, each its own stream (their WhatsApp timestamps
are deliberately odd, so send order is no order to hold them to).

Odd messages whose text is not valid Unicode (a lone surrogate) are left out and counted:
once one reaches a Connect transcript, the simulator cannot serialise its contacts any
more (`GET /sandbox/contacts` answers 500), so no campaign could be checked at all.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from bench.chaos.checker import Sent
from bench.chaos.hostile_connect import hostile_connect_events
from bench.hostile import hostile_bodies, odd_valid_messages

if TYPE_CHECKING:
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_sqs import SQSClient

# SNS and SQS batches: 10 entries and 256 KiB in all; stay below with room for attributes.
_BATCH_ENTRIES = 10
_BATCH_BYTES = 200_000


@dataclass(frozen=True, slots=True)
class Body:
    text: str
    attributes: dict[str, str] | None = None
    # Set for valid messages the checker must find.
    marker: str | None = None


@dataclass(slots=True)
class FloodResult:
    attempted: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    odd_sent: list[Sent] = field(default_factory=list)
    odd_skipped: int = 0
    # Events not even tried because the time budget ran out, by label.
    not_sent: Counter[str] = field(default_factory=Counter)


def _valid_unicode(body: str) -> bool:
    """Whether the WhatsApp entry inside an EUM event body encodes as UTF-8."""
    entry = json.loads(body).get("whatsAppWebhookEntry", "")
    try:
        str(entry).encode()
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class FloodTargets:
    sns: SNSClient
    sqs: SQSClient
    inbound_topic_arn: str
    inbound_queue_url: str
    outbound_topic_arn: str
    outbound_queue_url: str


def _batches(bodies: Sequence[Body]) -> list[list[Body]]:
    batches: list[list[Body]] = []
    size = 0
    for body in bodies:
        length = len(body.text.encode()) + 1024
        if not batches or len(batches[-1]) == _BATCH_ENTRIES or size + length > _BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(body)
        size += length
    return batches


def _sqs_attributes(attributes: dict[str, str] | None) -> dict[str, Any]:
    return {k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items()}


async def _to_queue(sqs: SQSClient, url: str, batch: list[Body]) -> set[int]:
    """Indexes of `batch` the queue accepted."""
    entries: list[Any] = [
        {"Id": str(i), "MessageBody": b.text, "MessageAttributes": _sqs_attributes(b.attributes)}
        for i, b in enumerate(batch)
    ]
    try:
        answer = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
    except (ClientError, BotoCoreError):
        return set()  # the whole batch refused (an invalid character in one body)
    return {int(entry["Id"]) for entry in answer.get("Successful", [])}


async def _to_topic(sns: SNSClient, topic: str, batch: list[Body]) -> set[int]:
    entries: list[Any] = [
        {
            "Id": str(i),
            "Message": b.text,
            "MessageAttributes": _sqs_attributes(b.attributes),
        }
        for i, b in enumerate(batch)
    ]
    try:
        answer = await sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
    except (ClientError, BotoCoreError):
        return set()
    return {int(entry["Id"]) for entry in answer.get("Successful", []) if "Id" in entry}


async def _send(
    result: FloodResult,
    label: str,
    bodies: Sequence[Body],
    send: Any,
    deadline: float,
) -> None:
    batches = _batches(bodies)
    for number, batch in enumerate(batches):
        if time.monotonic() > deadline:
            result.not_sent[label] += sum(len(rest) for rest in batches[number:])
            return
        accepted = [batch[i] for i in await send(batch)]
        if len(batch) > 1 and not accepted:
            # One body the service refuses (a NUL byte) fails the whole batch: send each
            # alone, so every other body still gets its chance.
            accepted = [body for body in batch if await send([body])]
        result.attempted[label] += len(batch)
        result.accepted[label] += len(accepted)
        for body in accepted:
            if body.marker is not None:
                result.odd_sent.append(Sent(body.marker, f"in:odd:{body.marker}", 0, time.time()))


async def flood(
    targets: FloodTargets,
    *,
    hostile_inbound: int,
    hostile_outbound: int,
    odd: int,
    contacts: Sequence[str],
    seed: int,
    budget_s: float,
) -> FloodResult:
    """Send everything, five streams at once; returns what each side accepted.

    Sending stops at `budget_s`: a system that slows its queues to a crawl (a sandbox
    whose queues fill while crashing workers drain nothing) must not hold the run for
    hours; what was never sent is reported.
    """
    deadline = time.monotonic() + budget_s
    inbound = [Body(text) for _, text in hostile_bodies(hostile_inbound, seed=seed)]
    half = len(inbound) // 2
    odd_all = [Body(text, marker=m) for _, m, text in odd_valid_messages(odd, seed=seed)]
    odd_bodies = [body for body in odd_all if _valid_unicode(body.text)]
    outbound = list(hostile_connect_events(hostile_outbound, contacts=contacts, seed=seed))
    via_sns = [Body(e.body, e.attributes) for e in outbound if e.transport == "sns"]
    via_sqs = [Body(e.body, e.attributes) for e in outbound if e.transport == "sqs"]

    def topic(arn: str) -> Any:
        return lambda batch: _to_topic(targets.sns, arn, batch)

    def queue(url: str) -> Any:
        return lambda batch: _to_queue(targets.sqs, url, batch)

    result = FloodResult(odd_skipped=len(odd_all) - len(odd_bodies))
    await asyncio.gather(
        _send(result, "in hostile", inbound[:half], topic(targets.inbound_topic_arn), deadline),
        _send(result, "in hostile", inbound[half:], queue(targets.inbound_queue_url), deadline),
        _send(result, "in odd", odd_bodies, topic(targets.inbound_topic_arn), deadline),
        _send(result, "out hostile", via_sns, topic(targets.outbound_topic_arn), deadline),
        _send(result, "out hostile", via_sqs, queue(targets.outbound_queue_url), deadline),
    )
    return result
