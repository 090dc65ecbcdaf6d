"""Composition root: the only place that knows every part.

`run_bridge` opens the AWS clients in one `AsyncExitStack`, builds every component with
explicit collaborators, runs them as tasks of one `TaskGroup` (a crash in any of them
stops the process instead of leaving a zombie), and on SIGTERM/SIGINT shuts down in
order, inside `drain_timeout_s`:

1. the queue consumers (inbound, outbound) stop receiving and finish (or hand back) their
   batches;
2. the stream consumer stops reading, has the buffer deliver every burst, waits for the
   acknowledgements, writes final checkpoints and releases its leases;
3. the buffer closes;
4. the admin server stops last, so health stays observable while draining.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any, Final

import aiohttp
import structlog
import uvicorn
from prometheus_client import CollectorRegistry

from service.admin.app import create_admin_app
from service.admin.dead_letters import dead_letters_router
from service.admin.error_counts import errors_router
from service.admin.outreach import OutreachBody, OutreachProblemError, outreach_router
from service.admin.routes import sessions_router, worker_router
from service.aws import AwsClientOptions, AwsClients, open_clients
from service.aws_models import BRIDGE_OPERATIONS
from service.aws_requests import count_requests
from service.bridge.adapters.claims import SendClaims
from service.bridge.adapters.connect_chat import ConnectChat
from service.bridge.adapters.connect_config import ConnectConfigStore, ConnectConfigUnavailableError
from service.bridge.adapters.connection import ChatConnection
from service.bridge.adapters.inbound_media import InboundMediaStore
from service.bridge.adapters.ledger import DeliveryLedger
from service.bridge.adapters.media import WHATSAPP_AUDIO_LIMIT, MediaForwarder
from service.bridge.adapters.media_convert import ConversionLimits
from service.bridge.adapters.raw_messages import (
    RawMessageReader,
    RawMessageWriter,
    decode_image,
    decode_message,
)
from service.bridge.adapters.sessions import SessionStore
from service.bridge.adapters.templates import TemplateCatalog
from service.bridge.adapters.transcribe import VoiceTranscriber
from service.bridge.adapters.voice import BridgeVoice
from service.bridge.adapters.whatsapp import WhatsAppClient
from service.bridge.events.connect import AgentItem
from service.bridge.events.transport import Outcome, QueueItem, Settle, StreamItem
from service.bridge.events.whatsapp import InboundMessage
from service.bridge.flows.amend import Amendments
from service.bridge.flows.attach import MediaAttacher
from service.bridge.flows.chat_admin import ChatAdmin
from service.bridge.flows.deliver import InboundDelivery, InboundOptions
from service.bridge.flows.held_sweep import HeldSweep
from service.bridge.flows.identity import IdentityChanges
from service.bridge.flows.intake import InboundMetrics, InboundQueueHandler
from service.bridge.flows.order_gate import TranscriptOrderGate
from service.bridge.flows.outbound import OutboundRouter
from service.bridge.flows.outreach import Outreaches, OutreachRefusedError, OutreachRequest
from service.bridge.flows.receipts import CustomerReceipts, ReceiptPolicy
from service.bridge.flows.reply import AgentReplies, OutboundOptions
from service.bridge.flows.sends import OutboundMetrics
from service.bridge.flows.status import FeedbackMetrics, StatusFeedback
from service.bridge.flows.templates import Reengagement, TemplateSends
from service.bridge.flows.voice_notes import TranscriptEcho, VoiceNotes
from service.bridge.policy.attachments import AttachmentRules, normalize_extensions
from service.bridge.policy.buffer import BufferConfig, CustomerBuffer
from service.bridge.policy.conversations import Conversations
from service.bridge.policy.lanes import AgentLanes, LaneConfig
from service.bridge.policy.pacing import Pacer, PacingConfig
from service.bridge.policy.ratelimit import ConnectRateLimits
from service.call_errors import CallErrors
from service.cloudwatch_metrics import EmfReporter
from service.consumers.dead_letters import (
    DeadLetterQueue,
    DeadLetterRoute,
    ParkedMessages,
    StreamDeadLetters,
)
from service.consumers.sqs.consumer import (
    BatchHandler,
    SqsConsumer,
    SqsConsumerConfig,
    SqsMetrics,
    Verdict,
)
from service.consumers.sqs.consumer import Outcome as SqsOutcome
from service.consumers.sqs.message import QueueMessage
from service.consumers.stream.config import StreamConsumerConfig
from service.consumers.stream.consumer import StreamConsumer, make_worker_id
from service.event_loop import loop_name
from service.health import Health, Readiness
from service.logs import bind_worker
from service.metrics import new_registry
from service.resources import (
    INBOUND_VISIBILITY_TIMEOUT_S,
    OUTBOUND_VISIBILITY_TIMEOUT_S,
    PARK_AFTER_RECEIVES,
)
from service.settings import ResourceNames, Settings

log = structlog.get_logger(__name__)

# Participant Service quotas are per Connect instance; the bridge serves one instance.
_PARTICIPANT_SCOPE = "instance"
# A queue consumer silent this long (its long poll is 20 s) fails /healthz.
_CONSUMER_STALE_S = 90.0


def version() -> str:
    try:
        return metadata.version("whatsapp-connect-bridge")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class _AdminServer(uvicorn.Server):
    """uvicorn without its own signal handling (the bridge owns SIGTERM/SIGINT), and without
    its ten wakeups a second.

    uvicorn's main loop sleeps 0.1 s between looks at `should_exit` (and refreshes the Date
    header every tenth look): idle, those were ten of the task's ~36 wakeups a second. Here
    it looks once a second, the Date header's resolution, and at once when told to exit.
    """

    _TICK_S: Final = 1.0

    def __init__(self, config: uvicorn.Config) -> None:
        self._exit_requested = asyncio.Event()
        super().__init__(config)

    @property  # over uvicorn's plain attribute: setting it wakes the loop
    def should_exit(self) -> bool:
        return self._exit_requested.is_set()

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        if value:
            self._exit_requested.set()
        else:
            self._exit_requested.clear()

    async def main_loop(self) -> None:
        # uvicorn refreshes the Date header on every tenth tick: count in tens.
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864_000
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._TICK_S):
                    await self._exit_requested.wait()
            should_exit = await self.on_tick(counter)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    @property
    def bound_port(self) -> int | None:
        for server in getattr(self, "servers", []):
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return None


@dataclass(slots=True)
class BridgeRuntime:
    """What a running bridge exposes to its host (the CLI, or a test)."""

    settings: Settings
    worker_id: str
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    admin_port: int | None = None
    started_at: float = field(default_factory=time.time)


@dataclass(slots=True)
class _Parts:
    consumer: SqsConsumer
    outbound: SqsConsumer
    stream: StreamConsumer
    buffer: CustomerBuffer[InboundMessage]
    lanes: AgentLanes[AgentItem]
    connect: ConnectChat
    sessions: SessionStore
    dead_letters: ParkedMessages
    voice_notes: VoiceNotes | None = None
    held_sweep: HeldSweep | None = None
    outreach: Outreaches | None = None


def aws_options(settings: Settings) -> AwsClientOptions:
    return AwsClientOptions(
        region=settings.aws_region,
        connect_timeout_s=settings.aws_connect_timeout_s,
        read_timeout_s=settings.aws_read_timeout_s,
        max_attempts=settings.aws_max_attempts,
        retry_mode=settings.aws_retry_mode,
        max_pool_connections=settings.aws_max_pool_connections,
        validate_requests=settings.aws_validate_requests,
        user_agent=f"whatsapp-connect-bridge/{version()}",
        operations=BRIDGE_OPERATIONS,
    )


def _install_signal_handlers(stop: asyncio.Event) -> Callable[[], None]:
    loop = asyncio.get_running_loop()

    def _on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning("shutdown_signal_repeated", signal=signal.Signals(signum).name)
            return
        log.info("shutdown_requested", signal=signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, sig)

    def _remove() -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)

    return _remove


async def run_bridge(
    settings: Settings,
    *,
    runtime: BridgeRuntime | None = None,
    install_signals: bool = True,
) -> None:
    worker_id = settings.task_id or socket.gethostname()
    runtime = runtime or BridgeRuntime(settings=settings, worker_id=worker_id)
    bind_worker({"worker": worker_id})
    names = settings.resource_names()
    async with AsyncExitStack() as stack:
        if install_signals:
            stack.callback(_install_signal_handlers(runtime.stop))
        clients = await open_clients(stack, aws_options(settings))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        registry = new_registry(worker_id=worker_id, version=version())
        if settings.count_aws_requests:
            count_requests(clients, registry)
        health = Health()
        readiness = Readiness(
            timeout_s=settings.readiness_timeout_s, interval_s=settings.readiness_interval_s
        )
        config = ConnectConfigStore(
            ssm=clients.ssm,
            parameter=names.connect_config_parameter,
            refresh_s=settings.connect_config_refresh_s,
        )
        _add_readiness_checks(readiness, clients, settings, config)
        with contextlib.suppress(ConnectConfigUnavailableError):
            await config.refresh()
        await readiness.probe()
        parts = await _build(
            settings=settings,
            names=names,
            clients=clients,
            http=http,
            registry=registry,
            health=health,
            config=config,
            worker_id=worker_id,
        )

        def status() -> dict[str, Any]:
            try:
                connect: dict[str, Any] | None = config.current().model_dump()
            except ConnectConfigUnavailableError:
                connect = None
            return {
                "worker_id": worker_id,
                "stream_worker_id": parts.stream.worker_id,
                "version": version(),
                "event_loop": loop_name(),
                "started_at": datetime.fromtimestamp(runtime.started_at, UTC).isoformat(),
                "uptime_s": round(time.time() - runtime.started_at, 1),
                "connect_config": connect,
                "connect_config_version": config.version,
                "connect_config_error": config.last_error,
                "health": health.report()[1],
                "resources": asdict(names),
            }

        admin = create_admin_app(
            health=health,
            readiness=readiness,
            registry=registry,
            admin_token=settings.admin_token,
            status=status,
            routers=[
                sessions_router(
                    sessions=ChatAdmin(sessions=parts.sessions, connect=parts.connect),
                    buffer=parts.buffer,
                ),
                worker_router(buffer=parts.buffer, stream=parts.stream),
                dead_letters_router(dead_letters=parts.dead_letters),
                errors_router(registry=registry),
                outreach_router(outreach=_OutreachAdmin(parts.outreach)),
            ],
            version=version(),
        )
        server = _AdminServer(
            uvicorn.Config(
                admin,
                host=settings.admin_host,
                port=settings.admin_port,
                log_config=None,
                lifespan="off",
                access_log=False,
                timeout_graceful_shutdown=2,
            )
        )
        log.info(
            "bridge_starting",
            admin_port=settings.admin_port,
            version=version(),
            event_loop=loop_name(),
        )
        async with asyncio.TaskGroup() as tasks:
            serving = tasks.create_task(server.serve(), name="admin-api")
            _start_housekeeping(
                tasks,
                settings=settings,
                registry=registry,
                health=health,
                readiness=readiness,
                config=config,
                stop=runtime.stop,
            )
            await _run_parts(tasks, parts, server, serving, runtime)
            server.should_exit = True
        log.info("bridge_stopped", uptime_s=round(time.time() - runtime.started_at, 1))


async def _run_parts(
    tasks: asyncio.TaskGroup,
    parts: _Parts,
    server: _AdminServer,
    serving: asyncio.Task[None],
    runtime: BridgeRuntime,
) -> None:
    """Start the work in dependency order; on stop, drain it in the reverse order (DESIGN §5.5):
    intake stops first, then the stream delivers what is buffered and lets its leases go,
    then the buffer and the lanes close."""
    owners_stop = asyncio.Event()
    buffering = tasks.create_task(parts.buffer.run(owners_stop), name="buffer")
    laning = tasks.create_task(parts.lanes.run(owners_stop), name="agent-lanes")
    await parts.buffer.running.wait()
    await parts.lanes.running.wait()
    streaming = tasks.create_task(parts.stream.run(), name="stream-consumer")
    receiving = tasks.create_task(parts.consumer.run(runtime.stop), name="inbound-queue")
    sending = tasks.create_task(parts.outbound.run(runtime.stop), name="outbound-queue")
    if parts.held_sweep is not None:
        tasks.create_task(parts.held_sweep.run(runtime.stop), name="held-sweep")
    await _wait_started(server, serving)
    runtime.admin_port = server.bound_port
    runtime.ready.set()
    log.info("bridge_started", admin_port=runtime.admin_port)

    await runtime.stop.wait()
    started = time.monotonic()
    parts.stream.request_stop()
    await receiving
    await sending
    await streaming
    owners_stop.set()
    await buffering
    await laning
    if parts.voice_notes is not None:
        spent = time.monotonic() - started
        await parts.voice_notes.drain(max(0.0, runtime.settings.drain_timeout_s - spent))
    log.info("drain_finished", took_s=round(time.monotonic() - started, 3))


def _start_housekeeping(
    tasks: asyncio.TaskGroup,
    *,
    settings: Settings,
    registry: CollectorRegistry,
    health: Health,
    readiness: Readiness,
    config: ConnectConfigStore,
    stop: asyncio.Event,
) -> None:
    tasks.create_task(health.monitor_event_loop(stop), name="loop-monitor")
    tasks.create_task(readiness.run(stop), name="readiness-probe")
    tasks.create_task(config.run(stop), name="connect-config")
    if settings.cloudwatch_metrics_interval_s > 0:
        emf = EmfReporter(
            registry=registry,
            name_prefix=settings.name_prefix,
            interval_s=settings.cloudwatch_metrics_interval_s,
        )
        tasks.create_task(emf.run(stop), name="cloudwatch-metrics")


async def _build(
    *,
    settings: Settings,
    names: ResourceNames,
    clients: AwsClients,
    http: aiohttp.ClientSession,
    registry: CollectorRegistry,
    health: Health,
    config: ConnectConfigStore,
    worker_id: str,
) -> _Parts:
    urls = {
        name: (await clients.sqs.get_queue_url(QueueName=name))["QueueUrl"]
        for name in (
            names.inbound_queue,
            names.inbound_dlq,
            names.outbound_queue,
            names.outbound_dlq,
        )
    }
    table = await clients.dynamodb.describe_table(TableName=names.raw_table)
    stream_arn = table["Table"].get("LatestStreamArn")
    if not stream_arn:
        raise RuntimeError(f"table {names.raw_table} has no stream; it must stream NEW_IMAGE")

    call_errors = CallErrors(registry)
    connect = ConnectChat(
        connect=clients.connect,
        participant=clients.participant,
        limits=ConnectRateLimits(registry=registry),
        streaming_topic_arn=settings.outbound_topic_arn,
        participant_scope=_PARTICIPANT_SCOPE,
        http=http,
        errors=call_errors,
    )
    sessions = SessionStore(dynamodb=clients.dynamodb, table=names.sessions_table)
    whatsapp = WhatsAppClient(
        social=clients.social, meta_api_version=settings.meta_api_version, errors=call_errors
    )
    receipts = CustomerReceipts(
        whatsapp=whatsapp,
        policy=ReceiptPolicy(
            mark_read=settings.whatsapp_mark_read,
            reaction_received=settings.whatsapp_reaction_received,
            reaction_delivered=settings.whatsapp_reaction_delivered,
            reaction_failed=settings.whatsapp_reaction_failed,
        ),
        registry=registry,
    )
    voice = BridgeVoice(
        connect=connect,
        sessions=sessions,
        instance_id=lambda: config.current().instance_id,
        display_name=settings.voice_display_name,
    )
    connection = ChatConnection(connect=connect, sessions=sessions, voice=voice)
    claims = SendClaims(dynamodb=clients.dynamodb, table=names.idempotency_table)
    pacer = Pacer(
        PacingConfig(
            pair_burst=settings.pacing_pair_burst,
            pair_interval_s=settings.pacing_pair_interval_s,
            number_rate_per_s=settings.pacing_number_rate_per_s,
            number_burst=settings.pacing_number_rate_per_s,
        )
    )
    echo = (
        TranscriptEcho(claims=claims, pacer=pacer, whatsapp=whatsapp)
        if settings.transcript_echo
        else None
    )
    voice_notes = _voice_notes(settings, clients, names.media_bucket, connection, echo)
    delivery = InboundDelivery(
        connect=connect,
        connection=connection,
        sessions=sessions,
        ledger=DeliveryLedger(dynamodb=clients.dynamodb, table=names.idempotency_table),
        config=config.current,
        options=InboundOptions(text_limit=settings.connect_text_limit),
        attacher=_media_attacher(
            settings, clients, names.media_bucket, connect, connection, voice_notes
        ),
        on_delivered=receipts.delivered,
        # `replies` is built below; the agent's held messages follow the customer's reply.
        on_window_reopened=lambda customer_key: replies.after_customer_wrote(customer_key),  # noqa: PLW0108
    )

    raw_writer = RawMessageWriter(
        dynamodb=clients.dynamodb,
        table=names.raw_table,
        # `stream` is built below; its readers resting on idle shards look at once.
        on_written=lambda: stream.records_written(),  # noqa: PLW0108
    )

    def decode(record: StreamItem) -> InboundMessage | AgentItem:
        return decode_image(record.new_image)

    def decode_customer_message(record: StreamItem) -> InboundMessage:
        return decode_message(record.new_image)

    raw_reader = RawMessageReader(dynamodb=clients.dynamodb, table=names.raw_table)
    # Edits and deletions: applied to the burst while buffered, told to the agent after.
    amendments = Amendments(
        deliver=delivery.deliver, sessions=sessions, history=raw_reader, notes=connection
    )
    identities = IdentityChanges(sessions=sessions)

    async def deliver_burst(burst: Sequence[InboundMessage]) -> None:
        # One read of the customer's session serves the whole delivery (three before).
        with sessions.reads_shared():
            await identities.before_delivery(burst)
            await amendments.deliver(burst)
            await identities.after_delivery(burst)

    buffer = CustomerBuffer[InboundMessage](
        decode=decode_customer_message,
        deliver=deliver_burst,
        on_parked=receipts.failed,
        registry=registry,
        config=BufferConfig(
            quiet_s=settings.buffer_quiet_s,
            max_wait_s=settings.buffer_max_wait_s,
            max_burst_messages=settings.buffer_max_burst_messages,
            max_customers=settings.buffer_max_customers,
            max_messages=settings.buffer_max_messages,
        ),
    )
    # Outbound: Connect streaming → the customer's lane → WhatsApp.
    outbound_metrics = OutboundMetrics(registry)
    outbound_options = OutboundOptions(
        forward_system=settings.outbound_forward_system,
        forward_bots=settings.outbound_forward_bots,
        mark_read_on_agent_read=settings.whatsapp_mark_read == "on_agent_read",
        typing_indicators=settings.outbound_typing_indicators,
        closing_message=settings.outbound_closing_message,
        window_closed=settings.window_policy,
        held_max_messages=settings.held_max_messages,
        held_ttl_s=settings.held_ttl_s,
    )
    catalog = TemplateCatalog(
        social=clients.social, ttl_s=settings.template_cache_ttl_s, errors=call_errors
    )
    templates = TemplateSends(catalog=catalog, reengagement=_reengagement(settings))
    replies = AgentReplies(
        sessions=sessions,
        whatsapp=whatsapp,
        claims=claims,
        pacer=pacer,
        channel=connection,
        history=raw_reader,
        metrics=outbound_metrics,
        media=MediaForwarder(
            connect=connect,
            social=clients.social,
            s3=clients.s3,
            bucket=names.media_bucket,
            http=http,
            conversion_limits=ConversionLimits(
                cpu_s=settings.media_conversion_cpu_s, max_output_bytes=WHATSAPP_AUDIO_LIMIT
            ),
        ),
        templates=templates,
        options=outbound_options,
    )

    async def reply(item: AgentItem) -> Outcome:
        return await replies.handle_item(item)

    async def gave_up(item: AgentItem, reason: str) -> None:
        await replies.give_up(item.event, item.key, reason)

    gate = (
        TranscriptOrderGate(
            sessions=sessions,
            chat=connection,
            transcripts=connect,
            stored=raw_reader,
            quota_wait_s=settings.outbound_gate_quota_wait_s,
        )
        if settings.outbound_max_gap_wait_s > 0
        else None
    )
    lanes = AgentLanes[AgentItem](
        handle=reply,
        on_given_up=gave_up,
        gate=gate,
        scope=sessions.reads_shared,
        registry=registry,
        config=LaneConfig(
            reorder_window_s=settings.outbound_reorder_window_s,
            max_stuck_s=settings.outbound_max_stuck_s,
            max_gap_wait_s=settings.outbound_max_gap_wait_s,
        ),
    )
    stream = StreamConsumer(
        config=StreamConsumerConfig(
            lease_duration_s=settings.stream_lease_duration_s,
            renew_interval_s=settings.stream_lease_duration_s * 0.3,
            fencing_safety_s=settings.stream_lease_duration_s * 0.2,
            scan_interval_s=settings.stream_scan_interval_s,
            scan_jitter_s=settings.stream_scan_interval_s * 0.2,
            idle_poll_interval_s=settings.stream_poll_interval_s,
            idle_backoff_max_s=settings.stream_idle_backoff_max_s,
            drain_deadline_s=settings.drain_timeout_s,
        ),
        stream_arn=stream_arn,
        dynamodb=clients.dynamodb,
        leases_table=names.leases_table,
        streams=clients.streams,
        handler=Conversations(decode=decode, buffer=buffer, lanes=lanes, registry=registry),
        dead_letters=StreamDeadLetters(
            DeadLetterQueue(sqs=clients.sqs, queue_url=urls[names.inbound_dlq])
        ),
        registry=registry,
        worker_id=make_worker_id(worker_id),
    )
    sqs_metrics = SqsMetrics(registry)

    def queue_consumer(
        name: str, queue: str, dlq: str, flow: QueueFlow, *, visibility_s: int, window_s: float
    ) -> SqsConsumer:
        return SqsConsumer(
            name=name,
            sqs=clients.sqs,
            queue_url=urls[queue],
            dlq_url=urls[dlq],
            handler=as_batch_handler(flow),
            metrics=sqs_metrics,
            config=SqsConsumerConfig(
                wait_time_s=settings.sqs_wait_time_s,
                max_in_flight_batches=settings.sqs_max_in_flight_batches,
                batch_window_s=window_s,
                visibility_timeout_s=visibility_s,
                heartbeat_interval_s=visibility_s / 3,
                drain_timeout_s=settings.drain_timeout_s,
                max_receives=PARK_AFTER_RECEIVES,
                # Let a poll in flight at SIGTERM return, within the drain budget.
                stop_grace_s=min(settings.sqs_wait_time_s + 5.0, settings.drain_timeout_s),
            ),
            heartbeat=health.heartbeat(f"{name}_queue", stale_after_s=_CONSUMER_STALE_S),
        )

    outbound = queue_consumer(
        "outbound",
        names.outbound_queue,
        names.outbound_dlq,
        OutboundRouter(
            sessions=sessions,
            store=raw_writer,
            metrics=outbound_metrics,
            options=outbound_options,
            notes=connection,
        ),
        visibility_s=OUTBOUND_VISIBILITY_TIMEOUT_S,
        window_s=settings.sqs_outbound_batch_window_s,
    )
    feedback = StatusFeedback(
        claims=claims,
        sessions=sessions,
        channel=connection,
        whatsapp=whatsapp,
        pacer=pacer,
        metrics=FeedbackMetrics(registry),
    )
    consumer = queue_consumer(
        "inbound",
        names.inbound_queue,
        names.inbound_dlq,
        InboundQueueHandler(
            writer=raw_writer,
            metrics=InboundMetrics(registry),
            on_statuses=feedback,
            on_received=receipts.received,
            on_identity_changes=identities.apply,
        ),
        visibility_s=INBOUND_VISIBILITY_TIMEOUT_S,
        window_s=settings.sqs_batch_window_s,
    )
    return _Parts(
        consumer=consumer,
        outbound=outbound,
        stream=stream,
        buffer=buffer,
        lanes=lanes,
        connect=connect,
        sessions=sessions,
        dead_letters=ParkedMessages(
            sqs=clients.sqs,
            routes=[
                DeadLetterRoute("inbound", urls[names.inbound_dlq], urls[names.inbound_queue]),
                DeadLetterRoute("outbound", urls[names.outbound_dlq], urls[names.outbound_queue]),
            ],
        ),
        voice_notes=voice_notes,
        held_sweep=HeldSweep(
            sessions=sessions, replies=replies, interval_s=settings.held_sweep_interval_s
        ),
        outreach=Outreaches(
            numbers=catalog,
            templates=templates,
            sessions=sessions,
            claims=claims,
            whatsapp=whatsapp,
            pacer=pacer,
            ttl_s=settings.outreach_ttl_s,
        ),
    )


class _OutreachAdmin:
    """The admin API's outreach view: its body in, the flow's refusals as its problems."""

    def __init__(self, outreach: Outreaches | None) -> None:
        self._outreach = outreach

    async def send(self, body: OutreachBody) -> dict[str, Any]:
        if self._outreach is None:
            raise OutreachProblemError(404, "outreach is not set up on this task")
        request = OutreachRequest(
            business=body.business,
            to=body.to,
            template=body.template,
            language=body.language,
            parameters=tuple(body.parameters),
            outreach_id=body.outreach_id,
            requested_by=body.requested_by,
        )
        try:
            return await self._outreach.send(request)
        except OutreachRefusedError as exc:
            raise OutreachProblemError(exc.status, exc.reason) from exc


def _reengagement(settings: Settings) -> Reengagement | None:
    if not settings.reengage_template:
        return None
    return Reengagement(
        name=settings.reengage_template,
        language=settings.reengage_template_language,
        parameters=tuple(
            part.strip() for part in settings.reengage_template_parameters.split("|") if part
        ),
    )


QueueFlow = Callable[[Sequence[QueueItem]], Awaitable[Mapping[str, Outcome]]]
_VERDICTS: Final = {
    Settle.DONE: SqsOutcome.DONE,
    Settle.RETRY: SqsOutcome.RETRY,
    Settle.PARK: SqsOutcome.POISON,
}


def _media_attacher(  # noqa: PLR0917  the composition root's plain wiring
    settings: Settings,
    clients: AwsClients,
    bucket: str,
    connect: ConnectChat,
    connection: ChatConnection,
    voice_notes: VoiceNotes | None,
) -> MediaAttacher | None:
    if not settings.media_attachments:
        return None
    rules = AttachmentRules(
        max_bytes=settings.connect_max_attachment_bytes,
        extra_extensions=normalize_extensions(settings.connect_extra_extensions),
    )
    return MediaAttacher(
        connect=connect,
        connection=connection,
        store=InboundMediaStore(social=clients.social, s3=clients.s3, bucket=bucket),
        rules=rules,
        conversion_limits=ConversionLimits(
            cpu_s=settings.media_conversion_cpu_s, max_output_bytes=rules.max_bytes
        ),
        voice_notes=voice_notes,
    )


def _voice_notes(
    settings: Settings,
    clients: AwsClients,
    bucket: str,
    connection: ChatConnection,
    echo: TranscriptEcho | None,
) -> VoiceNotes | None:
    languages = [code.strip() for code in settings.transcribe_languages.split(",") if code.strip()]
    if not settings.media_attachments or not languages:
        return None
    return VoiceNotes(
        transcriber=VoiceTranscriber(
            transcribe=clients.transcribe, s3=clients.s3, bucket=bucket, languages=languages
        ),
        connection=connection,
        timeout_s=settings.transcribe_timeout_s,
        echo=echo,
    )


def as_batch_handler(flow: QueueFlow) -> BatchHandler:
    """A bridge flow as the SQS consumer's batch handler: the bridge answers in its own
    outcomes, the consumer acts on its own verdicts (neither imports the other)."""

    async def handle(batch: Sequence[QueueMessage]) -> Mapping[str, Verdict]:
        outcomes = await flow(batch)
        return {
            message_id: Verdict(_VERDICTS[o.settle], o.reason, o.retry_after_s, o.cause)
            for message_id, o in outcomes.items()
        }

    return handle


async def _wait_started(server: _AdminServer, serving: asyncio.Task[None]) -> None:
    while not server.started:
        if serving.done():
            # uvicorn exits (instead of raising) when it cannot bind; surface that as a crash.
            serving.result()
            raise RuntimeError("admin API stopped before it started (is the port in use?)")
        await asyncio.sleep(0.02)


def _add_readiness_checks(
    readiness: Readiness, clients: AwsClients, settings: Settings, config: ConnectConfigStore
) -> None:
    names = settings.resource_names()

    async def dynamodb() -> None:
        for table in (names.raw_table, names.leases_table):
            await clients.dynamodb.describe_table(TableName=table)

    async def sqs() -> None:
        for queue in (names.inbound_queue, names.outbound_queue):
            await clients.sqs.get_queue_url(QueueName=queue)

    async def sns() -> None:
        await clients.sns.get_topic_attributes(TopicArn=settings.outbound_topic_arn)

    readiness.add("dynamodb", dynamodb)
    readiness.add("sqs", sqs)
    readiness.add("sns", sns)
    readiness.add("connect_config", config.check)
