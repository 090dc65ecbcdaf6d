"""`service/aws_requests.py`: every request the production clients send is counted, by
service and operation, retries included; against the embedded AWS and a dead port."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from prometheus_client import CollectorRegistry

from service.aws import AwsClientOptions, AwsClients, open_clients
from service.aws_requests import count_requests
from service.local.ports import free_loopback_ports

METRIC = "bridge_aws_requests_total"


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
