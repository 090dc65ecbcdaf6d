"""AWS clients: one aiobotocore session, long-lived clients owned by the caller's exit stack.

Clients are created once, in the composition root, and closed when its `AsyncExitStack`
unwinds; never at import time and never per call (a new client re-resolves credentials
and opens a new connection pool). Endpoints come from botocore's own
`AWS_ENDPOINT_URL[_<SERVICE>]` variables, which is how the sandbox points the same clients
at moto and the simulator.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session

from service.aws_models import shared_loader
from service.aws_tls import SharedTlsSession

if TYPE_CHECKING:
    from types_aiobotocore_connect import ConnectClient
    from types_aiobotocore_connectparticipant import ConnectParticipantClient
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodbstreams import DynamoDBStreamsClient
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_socialmessaging import EndUserMessagingSocialClient
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_ssm import SSMClient
    from types_aiobotocore_transcribe import TranscribeServiceClient

# SQS long polls hold the connection open for up to 20 s; the read timeout must exceed the
# wait or every empty poll would end in a ReadTimeout and a retry.
SQS_MAX_WAIT_S = 20


@dataclass(frozen=True, slots=True)
class AwsClientOptions:
    region: str | None = None
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    max_attempts: int = 5
    retry_mode: Literal["standard", "adaptive"] = "standard"
    max_pool_connections: int = 50
    # botocore checks every request against the service model before sending it: worth it
    # wherever code is being written and tested, CPU spent for nothing on requests the
    # production code builds the same way every time.
    validate_requests: bool = True
    # A fixed User-Agent: botocore otherwise assembles its structured one (SDK, OS,
    # language, features, config) on every request, twice; measured at 7.6 % of the
    # bridge's CPU under load. None: botocore's own.
    user_agent: str | None = None
    # Per service, the only operations the clients may call: their models are cut down to
    # those (`aws_models`). None: botocore's whole models (tools, the sandbox, tests).
    operations: Mapping[str, frozenset[str]] | None = None


@dataclass(frozen=True, slots=True)
class AwsClients:
    dynamodb: DynamoDBClient
    streams: DynamoDBStreamsClient
    sqs: SQSClient
    sns: SNSClient
    s3: S3Client
    ssm: SSMClient
    connect: ConnectClient
    participant: ConnectParticipantClient
    social: EndUserMessagingSocialClient
    transcribe: TranscribeServiceClient


def client_config(options: AwsClientOptions, *, read_timeout_s: float | None = None) -> AioConfig:
    return AioConfig(
        connect_timeout=options.connect_timeout_s,
        read_timeout=read_timeout_s if read_timeout_s is not None else options.read_timeout_s,
        retries={"mode": options.retry_mode, "total_max_attempts": options.max_attempts},
        max_pool_connections=options.max_pool_connections,
        parameter_validation=options.validate_requests,
        user_agent=options.user_agent,
        http_session_cls=SharedTlsSession,
    )


def new_session(operations: Mapping[str, frozenset[str]] | None = None) -> AioSession:
    """A session whose service models come from the process's one loader for `operations`
    (None: whole models), so a second session does not parse them again."""
    session = get_session()
    session.register_component("data_loader", shared_loader(operations))
    return session


async def open_clients(
    stack: AsyncExitStack,
    options: AwsClientOptions,
    *,
    session: AioSession | None = None,
) -> AwsClients:
    """Create every client the bridge uses, each closed when `stack` unwinds."""
    if session is None:
        session = new_session(options.operations)
    config = client_config(options)
    sqs_config = client_config(options, read_timeout_s=options.read_timeout_s + SQS_MAX_WAIT_S)
    region = options.region
    enter = stack.enter_async_context
    return AwsClients(
        dynamodb=await enter(session.create_client("dynamodb", region, config=config)),
        streams=await enter(session.create_client("dynamodbstreams", region, config=config)),
        sqs=await enter(session.create_client("sqs", region, config=sqs_config)),
        sns=await enter(session.create_client("sns", region, config=config)),
        s3=await enter(session.create_client("s3", region, config=config)),
        ssm=await enter(session.create_client("ssm", region, config=config)),
        connect=await enter(session.create_client("connect", region, config=config)),
        participant=await enter(session.create_client("connectparticipant", region, config=config)),
        social=await enter(session.create_client("socialmessaging", region, config=config)),
        transcribe=await enter(session.create_client("transcribe", region, config=config)),
    )
