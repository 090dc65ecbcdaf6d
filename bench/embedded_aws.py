"""Embedded AWS benchmark: the calls the bridge makes per inbound message, against moto alone.

Starts the embedded AWS as its own process (`python -m service.local.embedded_aws`, as
`make dev` does), creates the bridge's resources, seeds one session item per customer, then
drives it from a few asyncio tasks with the production aiobotocore clients:

- publishers: one SNS Publish per WhatsApp message to the inbound topic (as EUM Social and
  the simulator do), fanned out by moto to the inbound queue;
- consumers: SQS ReceiveMessage (batch of 10, 20 s long poll), DynamoDB BatchWriteItem of
  the batch to the raw-messages table (NEW_IMAGE stream), SQS DeleteMessageBatch, then per
  message a TransactWriteItems of 3 items (session update + two idempotency claims) and a
  conditional PutItem;
- one stream reader: GetRecords on the raw table's shard, following NextShardIterator and
  sleeping 0.25 s when idle (the bridge's idle poll), skipping records at or below its
  checkpoint (the last sequence number read), as the bridge's consumer does.

Prints messages per second (until every message is processed and read from the stream),
moto's CPU-ms per message (from /proc/<pid>/stat), this process's (the clients') CPU-ms
per message, and what the stream reader saw: duplicate sequence numbers, and lost messages
(their record came at or below the checkpoint and was never read otherwise).

Usage: python -m bench.embedded_aws [--messages 3000] [--customers 1000] [--json F]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from service.aws import AwsClientOptions, AwsClients, open_clients
from service.local import constants
from service.local.bootstrap import BootstrapClients, BootstrapResult, bootstrap
from service.local.embedded_aws import LOOPBACK, EmbeddedAws
from service.local.ports import free_loopback_ports
from service.resources import resource_plan
from service.settings import ResourceNames, ResourceSettings

PREFIX = "bench"
IDLE_POLL_S = 0.25
# Message ids unique to this run: an embedded AWS given with --url may hold earlier runs'.
RUN = f"{os.getpid()}-{int(time.time())}"


@dataclass
class Progress:
    expected: int
    processed: int = 0
    read: set[str] = field(default_factory=set)
    checkpoint: int = -1
    duplicate_sequence_numbers: int = 0
    # Messages whose record came at or below the checkpoint: lost unless read otherwise.
    skipped: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def check_done(self) -> None:
        if self.processed >= self.expected and len(self.read) >= self.expected:
            self.done.set()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def seed_sessions(c: AwsClients, names: ResourceNames, customers: int) -> None:
    requests: list[Any] = [
        {"PutRequest": {"Item": {"pk": {"S": f"session#{i}"}, "version": {"N": "1"}}}}
        for i in range(customers)
    ]
    for start in range(0, len(requests), 25):
        await c.dynamodb.batch_write_item(
            RequestItems={names.sessions_table: requests[start : start + 25]}
        )


async def publisher(c: AwsClients, topic_arn: str, indexes: range, customers: int) -> None:
    for i in indexes:
        body = {"customer": str(i % customers), "message_id": f"{RUN}-m{i}", "text": f"hi {i}"}
        await c.sns.publish(TopicArn=topic_arn, Message=json.dumps(body))


async def handle_message(c: AwsClients, names: ResourceNames, body: dict[str, str]) -> None:
    customer, message_id = body["customer"], body["message_id"]
    await c.dynamodb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": names.sessions_table,
                    "Key": {"pk": {"S": f"session#{customer}"}},
                    "UpdateExpression": "SET last_message = :m ADD version :one",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": {":m": {"S": message_id}, ":one": {"N": "1"}},
                }
            },
            {
                "Put": {
                    "TableName": names.idempotency_table,
                    "Item": {"id": {"S": f"delivery#{message_id}"}, "status": {"S": "NEW"}},
                    "ConditionExpression": "attribute_not_exists(id)",
                }
            },
            {
                "Put": {
                    "TableName": names.idempotency_table,
                    "Item": {"id": {"S": f"claim#{message_id}"}, "customer": {"S": customer}},
                    "ConditionExpression": "attribute_not_exists(id)",
                }
            },
        ]
    )
    await c.dynamodb.put_item(
        TableName=names.idempotency_table,
        Item={"id": {"S": f"receipt#{message_id}"}},
        ConditionExpression="attribute_not_exists(id)",
    )


async def consumer(c: AwsClients, names: ResourceNames, queue_url: str, progress: Progress) -> None:
    while True:
        response = await c.sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=20,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            continue
        bodies = [json.loads(json.loads(m["Body"])["Message"]) for m in messages]
        await c.dynamodb.batch_write_item(
            RequestItems={
                names.raw_table: [
                    {
                        "PutRequest": {
                            "Item": {
                                "customer": {"S": b["customer"]},
                                "message_id": {"S": b["message_id"]},
                                "text": {"S": b["text"]},
                            }
                        }
                    }
                    for b in bodies
                ]
            }
        )
        await c.sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
            ],
        )
        for body in bodies:
            try:
                await handle_message(c, names, body)
            except ClientError as exc:
                # Counted, not fatal: the bridge would retry or park the message.
                progress.errors.append(exc.response["Error"]["Code"])
        progress.processed += len(bodies)
        progress.check_done()


async def stream_reader(c: AwsClients, stream_arn: str, progress: Progress) -> None:
    shard = (await c.streams.describe_stream(StreamArn=stream_arn))["StreamDescription"]["Shards"][
        0
    ]
    iterator = (
        await c.streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )
    )["ShardIterator"]
    seen: set[int] = set()
    while iterator:
        response = await c.streams.get_records(ShardIterator=iterator, Limit=1000)
        for record in response["Records"]:
            sequence = int(record["dynamodb"]["SequenceNumber"])
            if sequence in seen:
                progress.duplicate_sequence_numbers += 1
            seen.add(sequence)
            message_id = record["dynamodb"]["Keys"]["message_id"]["S"]
            if record["eventName"] != "INSERT" or not message_id.startswith(RUN):
                progress.checkpoint = max(progress.checkpoint, sequence)
                continue
            if sequence <= progress.checkpoint:
                # What a consumer that checkpoints by sequence number does: already done.
                progress.skipped.add(message_id)
                continue
            progress.checkpoint = sequence
            progress.read.add(message_id)
        progress.check_done()
        iterator = response.get("NextShardIterator", "")
        if not response["Records"]:
            await asyncio.sleep(IDLE_POLL_S)


async def _until_done(
    progress: Progress, background: list[asyncio.Task[None]], timeout_s: float
) -> None:
    """Until every message is processed and read, a task fails, or `timeout_s` passes."""
    waiter = asyncio.create_task(progress.done.wait())
    pending = {waiter, *background}
    deadline = time.monotonic() + timeout_s
    while waiter in pending and (left := deadline - time.monotonic()) > 0:
        finished, pending = await asyncio.wait(
            pending, timeout=left, return_when=asyncio.FIRST_COMPLETED
        )
        failed = [t for t in finished if t is not waiter and t.exception() is not None]
        progress.errors += [repr(t.exception()) for t in failed]
        if failed:
            break
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)


async def _setup(c: AwsClients, names: ResourceNames) -> BootstrapResult:
    return await bootstrap(
        BootstrapClients(dynamodb=c.dynamodb, sqs=c.sqs, sns=c.sns, s3=c.s3, ssm=c.ssm),
        resource_plan(
            names,
            connect_instance_id=constants.CONNECT_INSTANCE_ID,
            contact_flow_id=constants.CONTACT_FLOW_ID,
        ),
    )


async def run(args: argparse.Namespace, moto_pid: int) -> dict[str, Any]:
    names = ResourceSettings(name_prefix=PREFIX).resource_names()
    async with AsyncExitStack() as stack:
        c = await open_clients(stack, AwsClientOptions(region=constants.REGION))
        created = await _setup(c, names)
        await seed_sessions(c, names, args.customers)
        progress = Progress(expected=args.messages)
        topic_arn = created.topic_arns[names.inbound_topic]
        queue_url = created.queue_urls[names.inbound_queue]
        calls: Counter[str] = Counter()

        def count_call(model: Any, **_: Any) -> None:
            calls[model.name] += 1

        for client in (c.sqs, c.sns, c.dynamodb, c.streams):
            client.meta.events.register("before-call.*.*", count_call)
        cpu_before = _cpu_seconds(moto_pid)
        own_cpu_before = time.process_time()
        started = time.monotonic()
        background = [
            asyncio.create_task(stream_reader(c, created.stream_arn, progress)),
            *(
                asyncio.create_task(consumer(c, names, queue_url, progress))
                for _ in range(args.consumers)
            ),
            *(
                asyncio.create_task(
                    publisher(
                        c, topic_arn, range(p, args.messages, args.publishers), args.customers
                    )
                )
                for p in range(args.publishers)
            ),
        ]
        await _until_done(progress, background, args.timeout)
        took = time.monotonic() - started
        cpu = _cpu_seconds(moto_pid) - cpu_before
        own_cpu = time.process_time() - own_cpu_before
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
    completed = min(progress.processed, len(progress.read))
    return {
        "messages": args.messages,
        "customers": args.customers,
        "consumers": args.consumers,
        "publishers": args.publishers,
        "completed": progress.done.is_set(),
        "processed": progress.processed,
        "read_from_stream": len(progress.read),
        "lost": len(progress.skipped - progress.read),
        "duplicate_sequence_numbers": progress.duplicate_sequence_numbers,
        "errors": len(progress.errors),
        "error_kinds": sorted(set(progress.errors)),
        "run_s": round(took, 2),
        "messages_per_s": round(completed / took, 1),
        "moto_cpu_ms_per_message": round(1000 * cpu / max(1, completed), 2),
        "moto_cpu_utilisation": round(cpu / took, 2),
        # The clients' side (aiobotocore in this process) shares the machine's cores.
        "client_cpu_ms_per_message": round(1000 * own_cpu / max(1, completed), 2),
        "calls_per_message": {
            name: round(n / max(1, completed), 2) for name, n in sorted(calls.items())
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--consumers", type=int, default=4)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=100.0, help="give up after (s)")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--url", help="use this running embedded AWS (with --pid) instead of starting one"
    )
    parser.add_argument("--pid", type=int, help="process id of the embedded AWS at --url")
    args = parser.parse_args()
    if (args.url is None) != (args.pid is None):
        parser.error("--url and --pid go together")

    url = args.url or f"http://{LOOPBACK}:{free_loopback_ports(1)[0]}"
    os.environ |= {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": constants.DUMMY_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": constants.DUMMY_SECRET_KEY,
        "AWS_DEFAULT_REGION": constants.REGION,
    }
    if args.pid is not None:
        EmbeddedAws.wait_ready(url)
        report = asyncio.run(run(args, args.pid))
    else:
        moto = subprocess.Popen(
            [sys.executable, "-m", "service.local.embedded_aws", "--port", url.rsplit(":", 1)[1]],
            stderr=subprocess.DEVNULL,
        )
        try:
            EmbeddedAws.wait_ready(url)
            report = asyncio.run(run(args, moto.pid))
        finally:
            moto.terminate()
            moto.wait(30)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
