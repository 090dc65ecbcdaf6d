"""The SQS consumer against the embedded AWS: what is deleted, retried, parked and handed back."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence

import pytest
from prometheus_client import CollectorRegistry

from service.consumers.sqs.consumer import (
    DONE,
    BatchHandler,
    Outcome,
    SqsConsumer,
    SqsConsumerConfig,
    SqsMetrics,
    Verdict,
)
from service.consumers.sqs.message import QueueMessage
from tests.support.waiting import eventually


@pytest.fixture
async def queues(aws_clients):
    sqs = aws_clients.sqs
    dlq = (await sqs.create_queue(QueueName="q-dlq"))["QueueUrl"]
    dlq_arn = (await sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"]))[
        "Attributes"
    ]["QueueArn"]
    url = (
        await sqs.create_queue(
            QueueName="q",
            Attributes={
                "VisibilityTimeout": "30",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}),
            },
        )
    )["QueueUrl"]
    return url, dlq


async def _send(sqs, url, *bodies):
    for body in bodies:
        await sqs.send_message(QueueUrl=url, MessageBody=body)


async def _depth(sqs, url) -> int:
    attrs = (
        await sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


class Recorder:
    """A handler whose verdicts a test scripts, recording every call."""

    def __init__(self, verdict=DONE, *, gate: asyncio.Event | None = None) -> None:
        self.verdict = verdict
        self.gate = gate
        self.seen: list[str] = []
        self.calls = 0
        self.concurrent = 0
        self.max_concurrent = 0
        self.started = asyncio.Event()

    async def __call__(self, batch: Sequence[QueueMessage]) -> Mapping[str, Verdict]:
        self.calls += 1
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        self.started.set()
        try:
            if self.gate is not None:
                await self.gate.wait()
            self.seen.extend(m.payload for m in batch)
            if isinstance(self.verdict, Exception):
                raise self.verdict
            return {m.message_id: self.verdict for m in batch}
        finally:
            self.concurrent -= 1


def _consumer(aws_clients, queues, handler, *, registry=None, **config):
    url, dlq = queues
    defaults = {"wait_time_s": 1, "drain_timeout_s": 2.0, "retry_base_s": 0.0}
    return SqsConsumer(
        name="test",
        sqs=aws_clients.sqs,
        queue_url=url,
        dlq_url=dlq,
        handler=handler,
        metrics=SqsMetrics(registry or CollectorRegistry()),
        config=SqsConsumerConfig(**(defaults | config)),
    )


async def _run_until(consumer, condition, timeout_s=15.0):
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        async with asyncio.timeout(timeout_s):
            while not await condition():  # noqa: ASYNC110  polling AWS state, no event to wait on
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task


async def test_handled_messages_are_deleted(aws_clients, queues):
    url, _ = queues
    await _send(aws_clients.sqs, url, "a", "b", "c")
    handler = Recorder()
    consumer = _consumer(aws_clients, queues, handler)

    async def all_seen():
        return len(handler.seen) == 3

    await _run_until(consumer, all_seen)
    assert sorted(handler.seen) == ["a", "b", "c"]
    assert await _depth(aws_clients.sqs, url) == 0


async def test_poison_goes_to_the_dlq_at_once_with_its_reason(aws_clients, queues):
    url, dlq = queues
    await _send(aws_clients.sqs, url, "bad")
    consumer = _consumer(
        aws_clients, queues, Recorder(Verdict(Outcome.POISON, "unparseable event"))
    )

    async def parked():
        return await _depth(aws_clients.sqs, dlq) == 1

    await _run_until(consumer, parked)
    assert await _depth(aws_clients.sqs, url) == 0
    got = await aws_clients.sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])
    [message] = got["Messages"]
    assert message["Body"] == "bad"
    assert message["MessageAttributes"]["bridge_reason"]["StringValue"] == "unparseable event"
    assert message["MessageAttributes"]["bridge_source"]["StringValue"] == "test"


@pytest.mark.parametrize(
    "verdict", [Verdict(Outcome.RETRY, "throttled", retry_after_s=0), RuntimeError("boom")]
)
async def test_a_failing_message_is_retried_here_without_spending_its_receives(
    aws_clients, queues, verdict
):
    """Trouble that is not the message's (throttling, a slow dependency) must not burn its
    poison budget: it stays invisible here with backoff, then is parked with its reason."""
    url, dlq = queues
    await _send(aws_clients.sqs, url, "flaky")
    handler = Recorder(verdict)
    registry = CollectorRegistry()
    consumer = _consumer(
        aws_clients, queues, handler, registry=registry, retry_base_s=0.05, max_retry_s=1.0
    )

    async def parked():
        return await _depth(aws_clients.sqs, dlq) == 1

    await _run_until(consumer, parked)
    assert len(handler.seen) >= 3
    assert await _depth(aws_clients.sqs, url) == 0
    got = await aws_clients.sqs.receive_message(
        QueueUrl=dlq, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )
    [message] = got["Messages"]
    # Parked once max_retry_s (1 s) had passed; how far past it depends on the backoff's
    # jitter and the machine's load, so only the lower bound is the contract.
    reason = message["MessageAttributes"]["bridge_reason"]["StringValue"]
    found = re.match(r"still failing after (\d+) s: ", reason)
    assert found, reason
    assert int(found.group(1)) >= 1
    # Received once: every retry happened in this process.
    samples = registry.get_sample_value(
        "bridge_sqs_messages_total", {"queue": "test", "outcome": "retry"}
    )
    assert samples is not None
    assert samples >= 3


async def test_a_retry_comes_after_its_backoff_and_then_succeeds(aws_clients, queues):
    url, _ = queues
    await _send(aws_clients.sqs, url, "later")

    class OnceThrottled(Recorder):
        async def __call__(self, batch):
            result = await super().__call__(batch)
            if self.calls == 1:
                return {m.message_id: Verdict(Outcome.RETRY, "throttled", 0.5) for m in batch}
            return result

    handler = OnceThrottled()
    consumer = _consumer(aws_clients, queues, handler, retry_base_s=0.01)

    async def deleted():
        return handler.calls == 2 and await _depth(aws_clients.sqs, url) == 0

    started = asyncio.get_running_loop().time()
    await _run_until(consumer, deleted)
    assert asyncio.get_running_loop().time() - started >= 0.5  # the retry_after was honoured


async def test_shutdown_hands_back_a_message_waiting_for_its_retry(aws_clients, queues):
    url, _ = queues
    await _send(aws_clients.sqs, url, "waiting")
    handler = Recorder(Verdict(Outcome.RETRY, "Connect down", retry_after_s=30))
    consumer = _consumer(aws_clients, queues, handler)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    async with asyncio.timeout(10):
        await handler.started.wait()
    await asyncio.sleep(0.2)
    stop.set()
    async with asyncio.timeout(10):
        await task
    again = await aws_clients.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert [m["Body"] for m in again["Messages"]] == ["waiting"]


async def test_receiving_pauses_while_too_many_messages_are_held(aws_clients, queues):
    url, _ = queues
    await _send(aws_clients.sqs, url, *[f"m{i}" for i in range(6)])
    handler = Recorder(Verdict(Outcome.RETRY, "Connect down", retry_after_s=30))
    consumer = _consumer(aws_clients, queues, handler, batch_size=1, max_held_messages=2)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await eventually(lambda: len(handler.seen) == 2, timeout_s=10)
    await asyncio.sleep(1.5)  # room for more receives, were they allowed
    assert consumer.in_flight == 2
    assert len(handler.seen) == 2
    stop.set()
    async with asyncio.timeout(10):
        await task


async def test_concurrency_is_bounded(aws_clients, queues):
    url, _ = queues
    await _send(aws_clients.sqs, url, *[f"m{i}" for i in range(6)])

    class Slow(Recorder):
        async def __call__(self, batch):
            result = await super().__call__(batch)
            await asyncio.sleep(0.1)
            return result

    handler = Slow()
    consumer = _consumer(aws_clients, queues, handler, batch_size=1, max_in_flight_batches=2)

    async def all_seen():
        return len(handler.seen) == 6

    await _run_until(consumer, all_seen)
    assert handler.max_concurrent <= 2


async def test_shutdown_hands_unfinished_messages_back_at_once(aws_clients, queues):
    url, _ = queues
    await _send(aws_clients.sqs, url, "long job")
    handler = Recorder(gate=asyncio.Event())  # never released: the work outlives the deadline
    consumer = _consumer(aws_clients, queues, handler, drain_timeout_s=0.5)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    async with asyncio.timeout(10):
        await handler.started.wait()
    stop.set()
    async with asyncio.timeout(10):
        await task
    # Visible again now, not after the 30 s visibility timeout.
    again = await aws_clients.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert [m["Body"] for m in again["Messages"]] == ["long job"]


async def test_shutdown_waits_for_work_that_finishes_within_the_deadline(aws_clients, queues):
    url, _ = queues
    await _send(aws_clients.sqs, url, "short job")
    gate = asyncio.Event()
    handler = Recorder(gate=gate)
    consumer = _consumer(aws_clients, queues, handler, drain_timeout_s=5)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    async with asyncio.timeout(10):
        await handler.started.wait()
    stop.set()
    await asyncio.sleep(0.2)
    gate.set()
    async with asyncio.timeout(10):
        await task
    assert handler.seen == ["short job"]
    assert await _depth(aws_clients.sqs, url) == 0


async def test_visibility_heartbeat_keeps_long_work_invisible(aws_clients, queues):
    url, _ = queues
    await aws_clients.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "2"})
    await _send(aws_clients.sqs, url, "slow")
    gate = asyncio.Event()
    handler = Recorder(gate=gate)
    consumer = _consumer(
        aws_clients, queues, handler, visibility_timeout_s=2, heartbeat_interval_s=0.5
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    async with asyncio.timeout(10):
        await handler.started.wait()
    await asyncio.sleep(3.5)  # well past the queue's 2 s visibility timeout
    stolen = await aws_clients.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
    assert stolen.get("Messages", []) == []
    gate.set()
    stop.set()
    async with asyncio.timeout(10):
        await task
    assert await _depth(aws_clients.sqs, url) == 0


async def test_a_redelivery_during_work_is_not_handled_twice_and_is_deleted(aws_clients, queues):
    url, _ = queues
    await aws_clients.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "1"})
    await _send(aws_clients.sqs, url, "once")
    gate = asyncio.Event()
    handler = Recorder(gate=gate)
    # No heartbeat in time: the message becomes visible again and is received a second time.
    registry = CollectorRegistry()
    consumer = _consumer(
        aws_clients,
        queues,
        handler,
        registry=registry,
        heartbeat_interval_s=60,
        max_in_flight_batches=2,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    async with asyncio.timeout(10):
        await handler.started.wait()
    await asyncio.sleep(2.5)
    gate.set()
    stop.set()
    async with asyncio.timeout(10):
        await task
    redelivered = registry.get_sample_value(
        "bridge_sqs_redelivered_in_flight_total", {"queue": "test"}
    )
    assert redelivered is not None
    assert redelivered >= 1, "the scenario needs a redelivery during the work"
    assert Counter(handler.seen) == {"once": 1}
    assert handler.calls == 1
    assert await _depth(aws_clients.sqs, url) == 0


class _RaisesOn(Recorder):
    """Raises for any batch holding `poison`: a bug that one message triggers."""

    def __init__(self, poison: str) -> None:
        super().__init__()
        self.poison = poison

    async def __call__(self, batch):
        if any(m.payload == self.poison for m in batch):
            self.calls += 1
            raise RecursionError("maximum recursion depth exceeded")
        return await super().__call__(batch)


async def test_a_raising_handler_costs_only_the_message_that_made_it_raise(aws_clients, queues):
    url, dlq = queues
    await aws_clients.sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(["a", "bad", "b"])],
    )
    handler = _RaisesOn("bad")
    registry = CollectorRegistry()
    consumer = _consumer(
        aws_clients, queues, handler, registry=registry, retry_base_s=0.05, max_retry_s=0.5
    )

    async def settled():
        return await _depth(aws_clients.sqs, url) == 0

    await _run_until(consumer, settled)
    # The good ones were handled and deleted the first time round, never retried.
    assert Counter(handler.seen) == {"a": 1, "b": 1}
    got = await aws_clients.sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])
    [parked] = got["Messages"]
    assert parked["Body"] == "bad"
    reason = parked["MessageAttributes"]["bridge_reason"]["StringValue"]
    assert reason.startswith("still failing after")
    assert reason.endswith("handler raised RecursionError")


async def test_the_innocent_messages_of_a_raising_batch_are_settled_at_once(aws_clients, queues):
    """One hostile message must not hold up the rest of its batch (DESIGN §5.6): when the
    handler raises for a batch, each message is judged on its own straight away; only the
    one that makes it raise waits for a retry."""
    url, _ = queues
    await aws_clients.sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(["a", "bad", "b"])],
    )
    handler = _RaisesOn("bad")
    registry = CollectorRegistry()
    # A retry waits at least 15 s: the innocent ones must be done well before that.
    consumer = _consumer(aws_clients, queues, handler, registry=registry, retry_base_s=30.0)

    async def innocent_ones_deleted():
        settled = Counter(handler.seen) == {"a": 1, "b": 1}
        return settled and await _depth(aws_clients.sqs, url) == 1  # "bad", held for its retry

    await _run_until(consumer, innocent_ones_deleted, timeout_s=8.0)
    retries = registry.get_sample_value(
        "bridge_sqs_messages_total", {"queue": "test", "outcome": "retry"}
    )
    assert retries == 1  # "bad" alone


async def test_a_retry_on_the_last_receive_is_parked_with_its_reason(aws_clients, queues):
    url, dlq = queues
    await _send(aws_clients.sqs, url, "stuck")
    # Two workers received it before and died without an answer: this is its third receive.
    for _ in range(2):
        await aws_clients.sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)
    handler = Recorder(Verdict(Outcome.RETRY, "Connect throttled", retry_after_s=0))
    registry = CollectorRegistry()
    consumer = _consumer(aws_clients, queues, handler, registry=registry, max_receives=3)

    async def parked():
        return await _depth(aws_clients.sqs, dlq) == 1

    await _run_until(consumer, parked)
    assert handler.seen == ["stuck"]
    got = await aws_clients.sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])
    [message] = got["Messages"]
    assert message["MessageAttributes"]["bridge_reason"]["StringValue"] == (
        "still failing after 3 receives: Connect throttled"
    )
    assert (
        registry.get_sample_value(
            "bridge_sqs_parked_total", {"queue": "test", "cause": "retries_exhausted"}
        )
        == 1
    )


async def test_the_parked_count_equals_the_messages_parked(aws_clients, queues):
    url, dlq = queues
    await _send(aws_clients.sqs, url, *[f"bad{i}" for i in range(7)])
    handler = Recorder(Verdict(Outcome.POISON, "malformed EUM event: x", cause="malformed"))
    registry = CollectorRegistry()
    consumer = _consumer(aws_clients, queues, handler, registry=registry)

    async def parked():
        return await _depth(aws_clients.sqs, dlq) == 7

    await _run_until(consumer, parked)
    assert (
        registry.get_sample_value(
            "bridge_sqs_parked_total", {"queue": "test", "cause": "malformed"}
        )
        == 7
    )


async def test_a_poll_in_flight_at_stop_may_return_and_its_messages_are_handed_back(
    aws_clients, queues
):
    url, _ = queues
    handler = Recorder()
    consumer = _consumer(aws_clients, queues, handler, wait_time_s=4, stop_grace_s=6)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await asyncio.sleep(1.0)  # the consumer is inside a long poll on an empty queue
    stop.set()
    # SQS hands this message to the poll that is already waiting. Cutting that poll short
    # would leave the message invisible for the 30 s visibility timeout.
    await _send(aws_clients.sqs, url, "arrived during shutdown")
    async with asyncio.timeout(10):
        await task
    assert handler.seen == []
    again = await aws_clients.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
    assert [m["Body"] for m in again.get("Messages", [])] == ["arrived during shutdown"]


def _batch_sizes() -> tuple[list[int], BatchHandler]:
    """A handler that takes every message and notes how many each batch held."""
    sizes: list[int] = []

    async def handler(batch: Sequence[QueueMessage]) -> Mapping[str, Verdict]:
        sizes.append(len(batch))
        return dict.fromkeys((m.message_id for m in batch), DONE)

    return sizes, handler


async def test_after_a_short_batch_the_next_receive_waits_the_window_and_brings_the_rest(
    aws_clients, queues
):
    url, _ = queues
    sizes, handler = _batch_sizes()

    consumer = _consumer(aws_clients, queues, handler, batch_window_s=1.0)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await _send(aws_clients.sqs, url, "first")
        await eventually(lambda: sizes == [1])
        # Sent one by one while the consumer waits its window: one receive brings them all.
        await _send(aws_clients.sqs, url, *(f"m{i}" for i in range(5)))
        await eventually(lambda: sum(sizes) == 6)
        assert sizes == [1, 5]
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task


async def test_a_full_receive_is_followed_at_once_even_with_a_batch_size_above_ten(
    aws_clients, queues
):
    # A receive brings at most ten messages however large the batch size: ten is full, and
    # waiting the window after it would slow a backlog to ten messages a window.
    url, _ = queues
    sizes, handler = _batch_sizes()

    await _send(aws_clients.sqs, url, *(f"m{i}" for i in range(25)))
    consumer = _consumer(aws_clients, queues, handler, batch_size=20, batch_window_s=5.0)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await eventually(lambda: sum(sizes) == 25, timeout_s=4.0)
        assert sizes == [10, 10, 5]
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task
