"""The embedded AWS's corrections to moto: what each must guarantee, mostly under concurrency.

Races are made likely rather than lucky: `busy_switching` shrinks the interpreter's thread
switch interval, so interleavings that a 5 ms interval makes rare happen in every run.
"""

import asyncio
import base64
import http.client
import json
import socket
import sys
import threading
import time
from collections import Counter
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import StreamShard, Table
from moto.sns.models import sns_backends
from moto.sqs.models import Queue, sqs_backends

from service.aws import AwsClientOptions, open_clients
from service.local import constants, moto_patches
from service.local.embedded_aws import EmbeddedAws

KEYS = [
    {"AttributeName": "customer", "KeyType": "HASH"},
    {"AttributeName": "message_id", "KeyType": "RANGE"},
]
ATTRIBUTES = [
    {"AttributeName": "customer", "AttributeType": "S"},
    {"AttributeName": "message_id", "AttributeType": "S"},
]
NEW_IMAGE = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


@pytest.fixture
def busy_switching():
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(previous)


@pytest.fixture
def boto3_dynamodb(aws):
    """A plain synchronous client, for a test that drives raw sockets alongside."""
    config = Config(retries={"max_attempts": 1}, read_timeout=3, connect_timeout=3)
    return boto3.client("dynamodb", endpoint_url=aws, config=config)


@pytest.fixture
async def single_try_clients(aws):
    """Clients that surface a server error instead of retrying it away."""
    async with AsyncExitStack() as stack:
        yield await open_clients(stack, AwsClientOptions(max_attempts=1))


async def create_streamed_table(dynamodb, name: str = "raw"):
    await dynamodb.create_table(
        TableName=name,
        KeySchema=KEYS,
        AttributeDefinitions=ATTRIBUTES,
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification=NEW_IMAGE,
    )
    return (await dynamodb.describe_table(TableName=name))["Table"]["LatestStreamArn"]


async def shard_iterator(streams, stream_arn: str):
    description = await streams.describe_stream(StreamArn=stream_arn)
    shard_id = description["StreamDescription"]["Shards"][0]["ShardId"]
    response = await streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
    )
    return response["ShardIterator"]


def item(customer: str, message_id: str, **more: str):
    return {"customer": {"S": customer}, "message_id": {"S": message_id}} | {
        k: {"S": v} for k, v in more.items()
    }


# ---------------------------------------------------------------- stream sequence numbers


def test_concurrent_writes_get_unique_increasing_stream_sequence_numbers(busy_switching):
    moto_patches.apply()
    table_type: Any = Table  # moto's Table is abstract to mypy (CloudFormation hooks)
    table = table_type(
        "direct",
        account_id=constants.ACCOUNT_ID,
        region=constants.REGION,
        schema=KEYS,
        attr=ATTRIBUTES,
        streams=NEW_IMAGE,
    )

    def write(writer: int) -> None:
        for n in range(40):
            table.put_item(
                {"customer": {"S": f"c{writer}"}, "message_id": {"S": f"m{n}"}, "t": {"S": "x"}}
            )

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    shard = table.stream_shard
    assert shard is not None
    numbers = [int(r.record["dynamodb"]["SequenceNumber"]) for r in shard.items]
    assert len(numbers) == 8 * 40
    given_twice = sorted(n for n, times in Counter(numbers).items() if times > 1)
    assert given_twice == []
    # GetRecords finds a record by sequence number - start: it must equal its position.
    assert numbers == [shard.starting_sequence_number + i for i in range(len(numbers))]


async def test_a_checkpointing_reader_gets_every_concurrently_written_record_once(
    single_try_clients, busy_switching
):
    c = single_try_clients
    stream_arn = await create_streamed_table(c.dynamodb)
    written = {f"c{w}/m{n}" for w in range(12) for n in range(20)}
    writers_done = asyncio.Event()

    async def writer(w: int) -> None:
        for n in range(20):
            await c.dynamodb.put_item(TableName="raw", Item=item(f"c{w}", f"m{n}"))

    async def reader() -> list[str]:
        # The bridge's consumer: skip what is at or below the checkpoint, as already done.
        read: list[str] = []
        checkpoint = -1
        iterator = await shard_iterator(c.streams, stream_arn)
        while True:
            drained = writers_done.is_set()
            response = await c.streams.get_records(ShardIterator=iterator)
            for record in response["Records"]:
                sequence = int(record["dynamodb"]["SequenceNumber"])
                if sequence > checkpoint:
                    keys = record["dynamodb"]["Keys"]
                    read.append(f"{keys['customer']['S']}/{keys['message_id']['S']}")
                    checkpoint = sequence
            iterator = response["NextShardIterator"]
            if drained and not response["Records"]:
                return read
            await asyncio.sleep(0.01)

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(w) for w in range(12)))
    writers_done.set()
    read = await reading
    skipped = sorted(written - set(read))
    assert skipped == []
    assert sorted(read) == sorted(written)


# ---------------------------------------------------------------- one request at a time


async def test_concurrent_transactions_and_writes_neither_fail_nor_lose_updates(
    single_try_clients, busy_switching
):
    c = single_try_clients
    await create_streamed_table(c.dynamodb)
    await c.dynamodb.put_item(TableName="raw", Item=item("counter", "0") | {"n": {"N": "0"}})

    async def increment(task: int) -> None:
        for step in range(10):
            await c.dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": "raw",
                            "Key": item("counter", "0"),
                            "UpdateExpression": "ADD n :one",
                            "ConditionExpression": "attribute_exists(customer)",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                    {"Put": {"TableName": "raw", "Item": item(f"t{task}", f"s{step}")}},
                ]
            )

    async def write(task: int) -> None:
        for step in range(10):
            await c.dynamodb.put_item(TableName="raw", Item=item(f"w{task}", f"s{step}"))

    await asyncio.gather(*(increment(t) for t in range(8)), *(write(t) for t in range(8)))

    counter = await c.dynamodb.get_item(TableName="raw", Key=item("counter", "0"))
    assert counter["Item"]["n"] == {"N": "80"}
    count = await c.dynamodb.scan(TableName="raw", Select="COUNT")
    assert count["Count"] == 1 + 80 + 80


async def test_a_long_poll_lets_other_requests_run_and_returns_on_arrival(single_try_clients):
    c = single_try_clients
    queue_url = (await c.sqs.create_queue(QueueName="polled"))["QueueUrl"]
    poll = asyncio.create_task(
        c.sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=5, MaxNumberOfMessages=1)
    )
    await asyncio.sleep(0.3)  # the receive is now waiting inside moto

    for _ in range(10):
        await c.sqs.list_queues()
    assert not poll.done()  # those ran while the poll waited: it does not hold the lock

    await c.sqs.send_message(QueueUrl=queue_url, MessageBody="hello")
    sent_at = time.monotonic()
    response = await poll
    assert [m["Body"] for m in response["Messages"]] == ["hello"]
    assert time.monotonic() - sent_at < 0.5  # woken by the arrival, not by a timer


def test_a_client_slow_to_send_its_body_does_not_stall_the_others(aws, boto3_dynamodb):
    address = urlsplit(aws)
    body = b'{"TableName": "nothing-here"}'
    with socket.create_connection((address.hostname or "", address.port or 80), 5) as slow:
        slow.sendall(
            b"POST / HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/x-amz-json-1.0\r\n"
            b"X-Amz-Target: DynamoDB_20120810.DescribeTable\r\n"
            b"Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/"
            b"aws4_request, SignedHeaders=host, Signature=0\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:5]
        )
        time.sleep(0.2)  # its request is now waiting for the rest of the body
        started = time.monotonic()
        boto3_dynamodb.list_tables()
        assert time.monotonic() - started < 2
        slow.sendall(body[5:])
        assert b"ResourceNotFoundException" in slow.recv(65536)


# ---------------------------------------------------------------- TransactWriteItems


async def test_a_cancelled_transaction_restores_its_items_and_writes_no_stream_record(
    aws_clients, monkeypatch
):
    c = aws_clients
    stream_arn = await create_streamed_table(c.dynamodb)
    await c.dynamodb.put_item(TableName="raw", Item=item("a", "1", text="before"))
    table = dynamodb_backends[constants.ACCOUNT_ID][constants.REGION].tables["raw"]
    iterator = await shard_iterator(c.streams, stream_arn)
    first = await c.streams.get_records(ShardIterator=iterator)
    assert len(first["Records"]) == 1

    def no_copy(_self, _memo):
        raise AssertionError("the whole table was copied")

    monkeypatch.setattr(Table, "__deepcopy__", no_copy, raising=False)
    with pytest.raises(ClientError) as cancelled:
        await c.dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "raw", "Item": item("a", "1", text="after")}},
                {"Put": {"TableName": "raw", "Item": item("b", "1", text="new")}},
                {"Delete": {"TableName": "raw", "Key": item("a", "2")}},
                {
                    "ConditionCheck": {
                        "TableName": "raw",
                        "Key": item("z", "9"),
                        "ConditionExpression": "attribute_exists(customer)",
                    }
                },
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"

    scan = await c.dynamodb.scan(TableName="raw")
    assert scan["Items"] == [item("a", "1", text="before")]
    # The same Table object (a restored copy would leave open iterators on a dead shard).
    assert dynamodb_backends[constants.ACCOUNT_ID][constants.REGION].tables["raw"] is table
    nothing = await c.streams.get_records(ShardIterator=first["NextShardIterator"])
    assert nothing["Records"] == []

    await c.dynamodb.transact_write_items(
        TransactItems=[{"Put": {"TableName": "raw", "Item": item("b", "1", text="later")}}]
    )
    later = await c.streams.get_records(ShardIterator=nothing["NextShardIterator"])
    assert [r["dynamodb"]["NewImage"]["text"]["S"] for r in later["Records"]] == ["later"]


async def test_an_update_in_a_cancelled_transaction_is_undone(aws_clients):
    c = aws_clients
    await c.dynamodb.create_table(
        TableName="sessions",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    await c.dynamodb.put_item(TableName="sessions", Item={"pk": {"S": "s"}, "v": {"N": "1"}})
    with pytest.raises(ClientError):
        await c.dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": "sessions",
                        "Key": {"pk": {"S": "s"}},
                        "UpdateExpression": "SET v = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {
                    "Put": {
                        "TableName": "sessions",
                        "Item": {"pk": {"S": "taken"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    stored = await c.dynamodb.get_item(TableName="sessions", Key={"pk": {"S": "s"}})
    assert stored["Item"]["v"] == {"N": "1"}
    missing = await c.dynamodb.get_item(TableName="sessions", Key={"pk": {"S": "taken"}})
    assert "Item" not in missing


# ---------------------------------------------------------------- SQS queue scans


async def test_queue_counts_and_retention_keep_their_meaning(aws_clients, monkeypatch):
    c = aws_clients
    url = (
        await c.sqs.create_queue(QueueName="counted", Attributes={"MessageRetentionPeriod": "60"})
    )["QueueUrl"]
    for n in range(5):
        await c.sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
    await c.sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    received = await c.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)
    assert len(received["Messages"]) == 2

    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    counts = (await c.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names))["Attributes"]
    assert counts == {
        "ApproximateNumberOfMessages": "3",
        "ApproximateNumberOfMessagesNotVisible": "2",
        "ApproximateNumberOfMessagesDelayed": "1",
    }

    queue = sqs_backends[constants.ACCOUNT_ID][constants.REGION].queues["counted"]
    expired: Any = next(m for m in queue._messages if m.body == "m4")
    expired.sent_timestamp -= 61_000

    def unexpected(*_args, **_kwargs):
        raise AssertionError("ReceiveMessage built the queue's attributes")

    backend_type = type(sqs_backends[constants.ACCOUNT_ID][constants.REGION])
    monkeypatch.setattr(backend_type, "get_queue_attributes", unexpected)
    rest = await c.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    assert [m["Body"] for m in rest["Messages"]] == ["m2", "m3"]  # m4 is past retention


# ---------------------------------------------------------------- SNS signing certificate


async def test_sns_envelopes_share_one_certificate_and_stay_verifiable(aws_clients):
    c = aws_clients
    topic_arn = (await c.sns.create_topic(Name="inbound"))["TopicArn"]
    queue_url = (await c.sqs.create_queue(QueueName="inbound"))["QueueUrl"]
    queue_arn = (await c.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"]))[
        "Attributes"
    ]["QueueArn"]
    subscribed = await c.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    for n in range(3):
        await c.sns.publish(TopicArn=topic_arn, Message=f"hello {n}", Subject="s")
    received = await c.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    envelopes = [json.loads(m["Body"]) for m in received["Messages"]]

    assert sorted(e["Message"] for e in envelopes) == ["hello 0", "hello 1", "hello 2"]
    assert len({e["SigningCertURL"] for e in envelopes}) == 1
    stored = sns_backends[constants.ACCOUNT_ID][constants.REGION]._message_public_keys
    assert len(stored) == 1  # not one certificate kept per message
    key_name = envelopes[0]["SigningCertURL"].rsplit("/", 1)[1]
    public_key = x509.load_pem_x509_certificate(stored[key_name]).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    for e in envelopes:
        signed = "".join(
            f"{field}\n{e[field]}\n" for field in ("Message", "MessageId", "Timestamp", "TopicArn")
        )
        public_key.verify(
            base64.b64decode(e["Signature"]),
            f"{signed}Type\nNotification\n".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
        assert e["Subject"] == "s"
        assert e["SignatureVersion"] == "2"

    # A second subscription (a reset sandbox subscribes again) signs with the same key: no
    # new RSA key is generated for each subscription.
    subscriptions = sns_backends[constants.ACCOUNT_ID][constants.REGION].subscriptions
    first = subscriptions[subscribed["SubscriptionArn"]]
    other_url = (await c.sqs.create_queue(QueueName="other"))["QueueUrl"]
    other_arn = (await c.sqs.get_queue_attributes(QueueUrl=other_url, AttributeNames=["QueueArn"]))[
        "Attributes"
    ]["QueueArn"]
    second = await c.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=other_arn)
    assert subscriptions[second["SubscriptionArn"]].private_key() is first.private_key()


# ---------------------------------------------------------------- HTTP keep-alive


@pytest.fixture
def counted_aws(monkeypatch):
    """An embedded AWS of its own that counts the TCP connections it accepts."""
    with EmbeddedAws.threaded() as embedded:
        accepted = [0]
        server = embedded._server
        accept = server.get_request

        def counting_accept():
            accepted[0] += 1
            return accept()

        monkeypatch.setattr(server, "get_request", counting_accept)
        monkeypatch.setenv("AWS_ENDPOINT_URL", embedded.url)
        yield embedded.url, accepted


async def test_aws_clients_reuse_their_connections(counted_aws):
    _, accepted = counted_aws
    async with AsyncExitStack() as stack:
        c = await open_clients(stack, AwsClientOptions(max_attempts=1))
        for _ in range(30):
            await c.dynamodb.list_tables()
        await asyncio.gather(*(c.sqs.list_queues() for _ in range(10)))
        for _ in range(10):
            await c.sqs.list_queues()
    assert accepted[0] <= 1 + 10  # one for the sequential calls, at most one per concurrent


def test_a_connection_survives_a_request_body_the_server_did_not_read(counted_aws):
    url, accepted = counted_aws
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=5)
    try:
        # Routed nowhere: answered without reading the body.
        connection.request("PUT", "/moto-api/nowhere", body=b"x" * 50_000)
        unread = connection.getresponse()
        unread.read()
        assert unread.status == 404
        connection.request("POST", "/moto-api/", body=iter([b"abc", b"def"]), encode_chunked=True)
        connection.getresponse().read()
        connection.request("GET", "/moto-api/")
        answered = connection.getresponse()
        answered.read()
        assert answered.status == 200
        assert answered.getheader("Connection") is None
    finally:
        connection.close()
    assert accepted[0] == 1


def test_a_client_that_asks_to_close_gets_its_connection_closed(counted_aws):
    url, _ = counted_aws
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=5)
    try:
        connection.request("GET", "/moto-api/", headers={"Connection": "close"})
        response = connection.getresponse()
        response.read()
        assert response.getheader("Connection") == "close"
        assert response.will_close
    finally:
        connection.close()


# ---------------------------------------------------------------- applying


def test_applying_twice_wraps_once():
    moto_patches.apply()
    add = StreamShard.add
    moto_patches.apply()
    assert StreamShard.add is add
    assert "__wrapped__" not in vars(vars(add)["__wrapped__"])


@pytest.mark.parametrize(
    ("patch", "owner", "attribute"),
    [
        (moto_patches._patch_stream_sequence_numbers, StreamShard, "add"),
        (moto_patches._patch_sqs_long_poll, Queue, "add_message"),
    ],
)
def test_a_patch_refuses_a_moto_that_changed_under_it(monkeypatch, patch, owner, attribute):
    def rewritten(*_args):
        return None

    monkeypatch.setattr(owner, attribute, rewritten)
    with pytest.raises(moto_patches.MotoPatchError, match=r"review service/local/moto_patches\.py"):
        patch()
