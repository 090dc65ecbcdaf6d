"""`service/aws_requests.py`: every request the production clients send is counted, by
service and operation, retries included, and every answered call timed; against the
embedded AWS, a dead port and a slow loopback endpoint."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
from aiohttp import web
from botocore.exceptions import ClientError, EndpointConnectionError
from prometheus_client import CollectorRegistry

from service.aws import AwsClientOptions, AwsClients, open_clients
from service.aws_requests import count_requests
from service.local.ports import free_loopback_ports

METRIC = "bridge_aws_requests_total"
CALLS = "bridge_aws_call_seconds"


def _count(registry: CollectorRegistry, service: str, operation: str) -> float:
    labels = {"service": service, "operation": operation}
    return registry.get_sample_value(METRIC, labels) or 0.0


async def test_requests_are_counted_by_service_and_operation_refusals_too(
    aws_clients: AwsClients,
):
    registry = CollectorRegistry()
    count_requests(aws_clients, registry)

    url = (await aws_clients.sqs.create_queue(QueueName="counted"))["QueueUrl"]
    await aws_clients.sqs.send_message(QueueUrl=url, MessageBody="one")
    await aws_clients.sqs.send_message(QueueUrl=url, MessageBody="two")
    with pytest.raises(ClientError):
        await aws_clients.dynamodb.describe_table(TableName="no-such-table")

    assert _count(registry, "sqs", "CreateQueue") == 1
    assert _count(registry, "sqs", "SendMessage") == 2
    assert _count(registry, "dynamodb", "DescribeTable") == 1
    assert _count(registry, "sns", "Publish") == 0
    labels = {"service": "sqs", "operation": "SendMessage"}
    assert registry.get_sample_value(f"{CALLS}_count", labels) == 2
    assert (registry.get_sample_value(f"{CALLS}_sum", labels) or 0.0) > 0


async def test_each_retry_is_a_request(monkeypatch: pytest.MonkeyPatch):
    (port,) = free_loopback_ports(1)  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    registry = CollectorRegistry()
    async with AsyncExitStack() as stack:
        clients = await open_clients(stack, AwsClientOptions(max_attempts=3))
        count_requests(clients, registry)
        with pytest.raises(EndpointConnectionError):
            await clients.sqs.list_queues()

    assert _count(registry, "sqs", "ListQueues") == 3
    # No answer, nothing to time: a refused connection is a count, not a latency.
    labels = {"service": "sqs", "operation": "ListQueues"}
    assert registry.get_sample_value(f"{CALLS}_count", labels) is None


async def test_a_call_is_timed_from_first_request_to_answer(monkeypatch: pytest.MonkeyPatch):
    async def slow_sqs(request: web.Request) -> web.Response:
        await asyncio.sleep(0.3)
        return web.json_response({"QueueUrls": []}, content_type="application/x-amz-json-1.0")

    app = web.Application()
    app.router.add_post("/", slow_sqs)
    runner = web.AppRunner(app)
    await runner.setup()
    (port,) = free_loopback_ports(1)
    await web.TCPSite(runner, "127.0.0.1", port).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    registry = CollectorRegistry()
    try:
        async with AsyncExitStack() as stack:
            clients = await open_clients(stack, AwsClientOptions())
            count_requests(clients, registry)
            await clients.sqs.list_queues()
    finally:
        await runner.cleanup()

    labels = {"service": "sqs", "operation": "ListQueues"}
    assert registry.get_sample_value(f"{CALLS}_count", labels) == 1
    assert 0.3 <= (registry.get_sample_value(f"{CALLS}_sum", labels) or 0.0) < 2.0
    assert registry.get_sample_value(f"{CALLS}_bucket", labels | {"le": "0.25"}) == 0
