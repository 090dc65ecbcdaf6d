"""`service/aws.py`: the production clients' configuration, seen on the wire."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import botocore

from service.aws import AwsClientOptions, open_clients


async def test_a_fixed_user_agent_is_sent_as_given(aws: str):
    agents: list[str] = []

    def before_send(request: Any, **_: Any) -> None:
        agents.append(request.headers["User-Agent"].decode())

    async with AsyncExitStack() as stack:
        fixed = await open_clients(stack, AwsClientOptions(user_agent="bridge/1.2.3"))
        standard = await open_clients(stack, AwsClientOptions())
        for clients in (fixed, standard):
            clients.sqs.meta.events.register("before-send", before_send)
            await clients.sqs.list_queues()
            await clients.sqs.list_queues()

    # The session's extra (botocore's version) still follows the fixed part.
    assert agents[:2] == [f"bridge/1.2.3 botocore/{botocore.__version__}"] * 2
    assert all(agent.startswith("aiobotocore/") for agent in agents[2:]), agents[2:]
