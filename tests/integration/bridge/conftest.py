"""Fixtures for the bridge's AWS adapters: the simulator for Connect, moto for the rest.

The simulator runs once per session in a thread (port 0), reaching the root fixtures' moto
server for SNS; each test resets it and points the production clients at it through
`AWS_ENDPOINT_URL_CONNECT` / `..._CONNECTPARTICIPANT`, as the sandbox does. Only tests that
ask for the simulator start it; the sessions-store tests need moto alone.
"""

import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from service.aws import AwsClientOptions, AwsClients, open_clients
from service.bridge.adapters.connect_chat import ConnectChat
from service.bridge.policy.ratelimit import ConnectRateLimits
from service.local import constants

INSTANCE_ID = constants.CONNECT_INSTANCE_ID
FLOW_ID = constants.CONTACT_FLOW_ID


@pytest.fixture
async def sim_clients(sim: str, aws: str) -> AsyncIterator[AwsClients]:
    # One attempt: a fault injected once must reach the adapter, not botocore's retries.
    async with AsyncExitStack() as stack:
        yield await open_clients(stack, AwsClientOptions(max_attempts=1))


@dataclass
class Streaming:
    """The outbound topic Connect streams to, with a queue to read what it published."""

    topic_arn: str
    queue_url: str
    clients: AwsClients

    async def drain(self, count: int, *, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        bodies: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while len(bodies) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"only {len(bodies)} of {count} streamed items arrived")
            response = await self.clients.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for message in response.get("Messages", []):
                bodies.append(json.loads(json.loads(message["Body"])["Message"]))
                await self.clients.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return bodies


@pytest.fixture
async def streaming(sim_clients: AwsClients) -> Streaming:
    clients = sim_clients
    topic_arn = (await clients.sns.create_topic(Name="bridge-test-connect-out"))["TopicArn"]
    queue_url = (await clients.sqs.create_queue(QueueName="bridge-test-connect-out"))["QueueUrl"]
    attributes = await clients.sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"]
    )
    await clients.sns.subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=attributes["Attributes"]["QueueArn"]
    )
    return Streaming(topic_arn, queue_url, clients)


@pytest.fixture
def limits_registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def connect_chat(
    sim_clients: AwsClients, streaming: Streaming, limits_registry: CollectorRegistry
) -> AsyncIterator[ConnectChat]:
    async with aiohttp.ClientSession() as http:
        yield ConnectChat(
            connect=sim_clients.connect,
            participant=sim_clients.participant,
            limits=ConnectRateLimits(registry=limits_registry),
            streaming_topic_arn=streaming.topic_arn,
            participant_scope=INSTANCE_ID,
            http=http,
        )
