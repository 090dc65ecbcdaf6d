"""Stream consumers against the embedded AWS's leases table and the fake streams client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client import CollectorRegistry

from service.aws import AwsClientOptions, client_config, new_session
from service.clock import SYSTEM_CLOCK, Clock
from service.consumers.stream.consumer import StreamConsumer
from service.consumers.stream.leases import LeaseStore
from tests.fakes.stream_cluster import FAST, Cluster, Worker
from tests.fakes.stream_handler import Delivery, ListDeadLetters, ScriptedHandler
from tests.fakes.streams import FakeStreams

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

    from service.consumers.stream.config import StreamConsumerConfig


@pytest.fixture
async def new_dynamodb(aws: str) -> AsyncIterator[Callable[[], Any]]:
    """A factory of extra DynamoDB clients, so one worker's calls can be tampered with."""
    async with AsyncExitStack() as stack:

        async def create() -> DynamoDBClient:
            config = client_config(AwsClientOptions(max_attempts=1))
            return await stack.enter_async_context(
                new_session().create_client("dynamodb", config=config)
            )

        yield create


@pytest.fixture
async def cluster(aws_clients, resources) -> AsyncIterator[Cluster]:
    streams = FakeStreams()
    table = resources.names.leases_table
    store = LeaseStore(
        client=aws_clients.dynamodb, table_name=table, finished_retention_s=72 * 3600.0
    )

    def make(
        name: str,
        deliveries: list[Delivery],
        *,
        config: StreamConsumerConfig = FAST,
        mode: str = "now",
        clock: Clock = SYSTEM_CLOCK,
        dynamodb: Any = None,
        fake: FakeStreams | None = None,
    ) -> Worker:
        handler = ScriptedHandler(name=name, mode=mode, deliveries=deliveries)
        dead_letters = ListDeadLetters()
        registry = CollectorRegistry()
        source = fake or streams
        consumer = StreamConsumer(
            config=config,
            stream_arn=source.arn,
            dynamodb=dynamodb or aws_clients.dynamodb,
            leases_table=table,
            streams=source,
            handler=handler,
            dead_letters=dead_letters,
            registry=registry,
            worker_id=f"{name}/test",
            clock=clock,
        )
        return Worker(consumer, handler, dead_letters, registry)

    cluster = Cluster(streams=streams, store=store, make=make)
    try:
        yield cluster
    finally:
        for worker in cluster.workers:
            if worker.task is not None and not worker.task.done():
                await worker.kill()
