"""Simulator fixtures: one simulator per session (thread, port 0), reset before each test.

The simulator reaches the root fixtures' moto server for SNS and S3; the production
aiobotocore clients (`aws_clients`) reach the simulator through the service-specific
endpoint variables, exactly as the bridge does in the sandbox.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiobotocore.config import AioConfig

from service.aws import AwsClients, new_session
from service.local import constants

INSTANCE_ID = constants.CONNECT_INSTANCE_ID
FLOW_ID = constants.CONTACT_FLOW_ID
ORIGINATION_ID = "phone-number-id-" + constants.EUM_PHONE_NUMBER_HEX


@pytest.fixture
def aws(aws: str, sim: str) -> str:
    """The root `aws` fixture with the simulator endpoints set before any client exists."""
    return aws


@dataclass(frozen=True, slots=True)
class LooseClients:
    """Clients with botocore's client-side validation off, to reach the server's checks."""

    connect: Any
    participant: Any
    social: Any
    transcribe: Any


@pytest.fixture
async def loose(aws: str) -> AsyncIterator[LooseClients]:
    config = AioConfig(parameter_validation=False, retries={"total_max_attempts": 1})
    session = new_session()
    async with AsyncExitStack() as stack:
        enter = stack.enter_async_context
        yield LooseClients(
            connect=await enter(session.create_client("connect", config=config)),
            participant=await enter(session.create_client("connectparticipant", config=config)),
            social=await enter(session.create_client("socialmessaging", config=config)),
            transcribe=await enter(session.create_client("transcribe", config=config)),
        )


@pytest.fixture
async def transcribe(aws: str) -> AsyncIterator[Any]:
    """A plain aiobotocore Transcribe client; AWS_ENDPOINT_URL_TRANSCRIBE is the simulator."""
    config = AioConfig(retries={"total_max_attempts": 1})
    async with new_session().create_client("transcribe", config=config) as client:
        yield client


@dataclass
class SimKit:
    """What most simulator tests need: production clients, the sandbox API, SQS probes."""

    clients: AwsClients
    sandbox: httpx.AsyncClient
    probes: int = 0

    async def start_chat(self, **overrides: Any) -> dict[str, Any]:
        params: dict[str, Any] = {
            "InstanceId": INSTANCE_ID,
            "ContactFlowId": FLOW_ID,
            "ParticipantDetails": {"DisplayName": "Ana"},
            "InitialMessage": {"ContentType": "text/plain", "Content": "hola"},
        }
        params.update(overrides)
        return dict(await self.clients.connect.start_chat_contact(**params))

    async def connected_chat(self, **overrides: Any) -> tuple[dict[str, Any], str]:
        """A started chat with its customer connected: the start answer and the token."""
        chat = await self.start_chat(**overrides)
        connection = await self.clients.participant.create_participant_connection(
            ParticipantToken=chat["ParticipantToken"],
            Type=["CONNECTION_CREDENTIALS"],
            ConnectParticipant=True,
        )
        return chat, connection["ConnectionCredentials"]["ConnectionToken"]

    async def advance_clock(self, seconds: float) -> None:
        response = await self.sandbox.post("/sandbox/clock", json={"advance_s": seconds})
        response.raise_for_status()

    async def contact(self, contact_id: str) -> dict[str, Any]:
        response = await self.sandbox.get(f"/sandbox/contacts/{contact_id}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def subscribe(self, topic_arn: str) -> str:
        """A fresh queue subscribed to the topic (no filter, SNS envelope kept)."""
        self.probes += 1
        sqs = self.clients.sqs
        url = (await sqs.create_queue(QueueName=f"sim-probe-{self.probes}"))["QueueUrl"]
        attributes = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        await self.clients.sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=attributes["Attributes"]["QueueArn"]
        )
        return url

    async def topic_and_queue(self, name: str) -> tuple[str, str]:
        topic = (await self.clients.sns.create_topic(Name=name))["TopicArn"]
        return topic, await self.subscribe(topic)

    async def drain(
        self, queue_url: str, count: int, *, timeout_s: float = 10.0
    ) -> list[dict[str, Any]]:
        """Exactly the first `count` SNS envelopes to arrive (deadline-bounded)."""
        envelopes: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while len(envelopes) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"only {len(envelopes)} of {count} messages arrived")
            response = await self.clients.sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for message in response.get("Messages", []):
                envelopes.append(json.loads(message["Body"]))
                await self.clients.sqs.delete_message(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return envelopes

    async def assert_quiet(self, queue_url: str) -> None:
        """Nothing (more) arrives. Publishing is synchronous in the simulator, so whatever
        it published has reached the queue before the sandbox/API call returned."""
        response = await self.clients.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        assert response.get("Messages", []) == []


@pytest.fixture
async def kit(aws_clients: AwsClients, sandbox: httpx.AsyncClient) -> SimKit:
    return SimKit(aws_clients, sandbox)
