"""Hostile inbound flood: thousands of bad events interleaved with valid bursts.

Runs the embedded AWS and the simulator in this process (threads) and the bridge as its own
process (`python -m service run`), then sends, concurrently:
- valid bursts from simulated customers (through the simulator, EUM → SNS → SQS);
- valid-but-odd messages (emoji, RTL, zero-width, NUL, lone surrogates, odd timestamps);
- hostile events (broken and absurdly nested JSON, wrong types, impossible keys, unknown
  numbers, ...), half through SNS and half straight into the inbound queue.

It then checks every valid message reached Connect exactly once, every DLQ message carries
the bridge's reason, the bridge's own parked count equals the DLQ's depth, and the bridge
process never restarted. One line of JSON per run; `--json` writes it to a file.

Usage: python -m bench.hostile_flood [--hostile 10000] [--customers 10] [--odd 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx

from bench.harness import Bench, bench_sandbox, rss_mb
from bench.hostile import hostile_bodies, odd_valid_messages
from service.aws import AwsClientOptions, AwsClients, open_clients
from service.local import constants

PREFIX = "flood"
TOKEN = "flood-admin-token-0123456789"  # noqa: S105  the sandbox bridge's fixed token


async def _valid_bursts(
    http: httpx.AsyncClient, customers: int, bursts: int, rng: random.Random
) -> list[str]:
    markers: list[str] = []

    async def one(index: int) -> None:
        wa_id = f"52177{index:08d}"
        for number in range(bursts):
            for position in range(rng.randint(2, 4)):
                marker = f"VALID-c{index}-b{number}-m{position}"
                markers.append(marker)
                response = await http.post(
                    f"/sandbox/customers/{wa_id}/messages",
                    json={"type": "text", "text": {"body": marker}},
                )
                response.raise_for_status()
                await asyncio.sleep(rng.uniform(0.2, 1.0))
            await asyncio.sleep(rng.uniform(7.0, 10.0))

    await asyncio.gather(*(one(i) for i in range(customers)))
    return markers


async def _send_bodies(
    clients: AwsClients, topic_arn: str, queue_url: str, bodies: list[str], *, via_sns: bool
) -> None:
    for start in range(0, len(bodies), 10):
        chunk = bodies[start : start + 10]
        if via_sns:
            await clients.sns.publish_batch(
                TopicArn=topic_arn,
                PublishBatchRequestEntries=[
                    {"Id": str(i), "Message": body} for i, body in enumerate(chunk)
                ],
            )
        else:
            await clients.sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)],
            )


async def _depth(clients: AwsClients, url: str) -> int:
    attributes = (
        await clients.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


async def _dlq_reasons(clients: AwsClients, url: str) -> Counter[str]:
    """Drain the DLQ, counting each message's reason (or '<none>')."""
    reasons: Counter[str] = Counter()
    while True:
        answer = await clients.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1
        )
        messages = answer.get("Messages", [])
        if not messages:
            return reasons
        for message in messages:
            attributes = message.get("MessageAttributes", {})
            reason = (
                attributes["bridge_reason"].get("StringValue")
                if "bridge_reason" in attributes
                else None
            )
            reasons[(reason or "<none>").split(":")[0]] += 1
        await clients.sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )


async def _transcript_lines(http: httpx.AsyncClient) -> list[str]:
    contacts = (await http.get("/sandbox/contacts")).json()["contacts"]
    return [
        item["content"]
        for contact in contacts
        for item in contact["transcript"]
        if item["participantRole"] == "CUSTOMER" and isinstance(item.get("content"), str)
    ]


def _parked_metric(metrics: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("bridge_sqs_parked_total{") and 'queue="inbound"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def _flood(args: argparse.Namespace, bench: Bench) -> dict[str, Any]:
    rng = random.Random(args.seed)
    names = bench.names
    async with AsyncExitStack() as stack:
        clients = await open_clients(stack, AwsClientOptions(region=constants.REGION))
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=bench.sim_url, timeout=60)
        )
        admin = await stack.enter_async_context(
            httpx.AsyncClient(
                base_url=bench.admin_url,
                timeout=10,
                headers={"Authorization": f"Bearer {bench.token}"},
            )
        )
        rss_before = rss_mb(bench.pid)
        topic = (await clients.sns.create_topic(Name=names.inbound_topic))["TopicArn"]
        queue = (await clients.sqs.get_queue_url(QueueName=names.inbound_queue))["QueueUrl"]
        dlq = (await clients.sqs.get_queue_url(QueueName=names.inbound_dlq))["QueueUrl"]
        hostile = list(hostile_bodies(args.hostile, seed=args.seed))
        odd = list(odd_valid_messages(args.odd, seed=args.seed))
        started = time.monotonic()
        half = len(hostile) // 2
        senders = [
            _send_bodies(clients, topic, queue, [b for _, b in hostile[:half]], via_sns=True),
            _send_bodies(clients, topic, queue, [b for _, b in hostile[half:]], via_sns=False),
            _send_bodies(clients, topic, queue, [b for _, _, b in odd], via_sns=True),
        ]
        markers_task = asyncio.ensure_future(_valid_bursts(http, args.customers, args.bursts, rng))
        await asyncio.gather(*senders, markers_task)
        sent_s = time.monotonic() - started
        markers = markers_task.result() + [marker for _, marker, _ in odd]
        deadline = time.monotonic() + args.timeout
        lines: list[str] = []
        while time.monotonic() < deadline:
            lines = await _transcript_lines(http)
            joined = "\n".join(lines)
            if all(m in joined for m in markers) and await _depth(clients, queue) == 0:
                break
            await asyncio.sleep(2)
        drained_s = time.monotonic() - started
        joined = "\n".join(lines)
        counts = {m: joined.count(m) for m in markers}
        metrics = (await admin.get("/metrics")).text
        reasons = await _dlq_reasons(clients, dlq)
        alive = bench.bridge.poll() is None
        rss_after = rss_mb(bench.pid) if alive else float("nan")
        return {
            "hostile_events": len(hostile),
            "hostile_shapes": len({label for label, _ in hostile}),
            "valid_messages": len(markers),
            "lost": sum(1 for c in counts.values() if c == 0),
            "doubled": sum(1 for c in counts.values() if c > 1),
            "dlq_messages": sum(reasons.values()),
            "dlq_without_reason": reasons.get("<none>", 0),
            "dlq_reasons": dict(reasons.most_common()),
            "bridge_parked_count": _parked_metric(metrics),
            "inbound_queue_left": await _depth(clients, queue),
            "bridge_pid_unchanged": alive,
            "rss_mb_before_after": [round(rss_before, 1), round(rss_after, 1)],
            "send_s": round(sent_s, 1),
            "drained_s": round(drained_s, 1),
        }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hostile", type=int, default=10_000)
    parser.add_argument("--odd", type=int, default=200)
    parser.add_argument("--customers", type=int, default=10)
    parser.add_argument("--bursts", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    async with bench_sandbox(
        prefix=PREFIX, token=TOKEN, bridge_env={"BRIDGE_LOG_LEVEL": "ERROR"}
    ) as bench:
        report = await _flood(args, bench)
    print(json.dumps(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
