"""Looking at, redriving and purging parked messages, against the embedded AWS's SQS."""

from __future__ import annotations

import json

import pytest

from service.consumers.dead_letters import (
    REDRIVEN_FROM,
    DeadLetterQueue,
    DeadLetterRoute,
    ParkedMessages,
    StreamDeadLetters,
)
from service.consumers.stream.records import StreamRecord


@pytest.fixture
def queues(resources):
    names = resources.names
    return {
        "dlq": resources.queue_url(names.inbound_dlq),
        "source": resources.queue_url(names.inbound_queue),
    }


@pytest.fixture
def parked(aws_clients, queues):
    return ParkedMessages(
        sqs=aws_clients.sqs, routes=[DeadLetterRoute("inbound", queues["dlq"], queues["source"])]
    )


async def _park(aws_clients, queues, body: str, **facts: str) -> None:
    facts = {"reason": "still failing", "source": "inbound", "cause": "retries_exhausted"} | facts
    await DeadLetterQueue(sqs=aws_clients.sqs, queue_url=queues["dlq"]).park(body, **facts)


async def _receive_all(aws_clients, url: str):
    response = await aws_clients.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
    )
    return response.get("Messages", [])


async def test_a_look_shows_facts_not_bodies_and_hides_nothing(aws_clients, queues, parked):
    await _park(aws_clients, queues, '{"secret": "Hello from 5215512345678"}')
    await _park(
        aws_clients,
        queues,
        "x",
        reason="Connect refused the number 5215512345678",
        cause="rejected",
    )

    messages, more = await parked.look("inbound")

    assert not more
    assert len(messages) == 2
    assert {m.cause for m in messages} == {"retries_exhausted", "rejected"}
    assert all(m.redrivable and m.source == "inbound" and m.parked_at for m in messages)
    # A careless reason is masked; the body is never part of what a look returns.
    assert "5215512345678" not in repr(messages)
    assert "Hello" not in repr(messages)
    # Looking made them visible again at once.
    assert len(await _receive_all(aws_clients, queues["dlq"])) == 2


async def test_redrive_resends_once_and_a_second_redrive_does_nothing(aws_clients, queues, parked):
    await _park(aws_clients, queues, "the original body")
    await _park(aws_clients, queues, "another body")
    (first, second), _ = await parked.look("inbound")

    result = await parked.redrive("inbound", [first.message_id])
    again = await parked.redrive("inbound", [first.message_id])

    assert result.redriven == [first.message_id]
    assert again.redriven == []
    assert again.not_found == [first.message_id]
    resent = await _receive_all(aws_clients, queues["source"])
    assert len(resent) == 1
    assert resent[0]["MessageAttributes"][REDRIVEN_FROM]["StringValue"] == first.message_id
    left, _ = await parked.look("inbound")
    assert [m.message_id for m in left] == [second.message_id]


async def test_stream_records_are_not_redriven(aws_clients, queues, parked):
    stream = StreamDeadLetters(DeadLetterQueue(sqs=aws_clients.sqs, queue_url=queues["dlq"]))
    record = StreamRecord(
        shard_key="shard-1",
        shard_id="shard-1",
        sequence_number="100",
        keys={"pk": {"S": "k"}},
        new_image={"pk": {"S": "k"}},
        approximate_created_at=None,
    )
    await stream.park(record, reason="burst still failing")
    await _park(aws_clients, queues, "a queue message")

    result = await parked.redrive("inbound", None)

    assert len(result.redriven) == 1
    assert len(result.not_redrivable) == 1
    (left,), _ = await parked.look("inbound")
    assert left.source == "stream"
    assert not left.redrivable
    (resent,) = await _receive_all(aws_clients, queues["source"])
    assert resent["Body"] == "a queue message"


async def test_a_message_moved_by_the_redrive_policy_is_shown_and_redrivable(
    aws_clients, queues, parked
):
    await aws_clients.sqs.send_message(QueueUrl=queues["dlq"], MessageBody=json.dumps({"a": 1}))

    (message,), _ = await parked.look("inbound")

    assert message.redrivable
    assert message.source == ""
    assert "SQS" in message.reason
    assert (await parked.redrive("inbound", None)).redriven == [message.message_id]


async def test_purge_empties_the_queue(aws_clients, queues, parked):
    await _park(aws_clients, queues, "body")
    await parked.purge("inbound")
    assert await parked.look("inbound") == ([], False)


async def test_an_unknown_queue_is_a_key_error(parked):
    with pytest.raises(KeyError):
        await parked.look("nope")
