from datetime import UTC, datetime
from typing import Any

from service.consumers.stream.records import Ack, AckOutcome, parse_new_message


def raw(event: str, *, image: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "SequenceNumber": "400000000000000000001",
        "Keys": {"customer": {"S": "c"}, "message_id": {"S": "m"}},
        "ApproximateCreationDateTime": datetime(2026, 3, 1, tzinfo=UTC),
    }
    if image:
        body["NewImage"] = {"customer": {"S": "c"}, "message_id": {"S": "m"}}
    return {"eventName": event, "dynamodb": body}


def test_only_inserts_with_an_image_are_new_messages():
    record = parse_new_message(raw("INSERT"), shard_key="L#s", shard_id="s")
    assert record is not None
    assert record.sequence_number == "400000000000000000001"
    assert record.new_image["message_id"] == {"S": "m"}
    assert record.shard_key == "L#s"
    assert parse_new_message(raw("MODIFY"), shard_key="L#s", shard_id="s") is None
    assert parse_new_message(raw("REMOVE", image=False), shard_key="L#s", shard_id="s") is None
    assert parse_new_message(raw("INSERT", image=False), shard_key="L#s", shard_id="s") is None


async def test_an_ack_resolves_once_and_parks_before_it_resolves():
    seen: list[tuple[str, AckOutcome]] = []
    parked: list[str] = []

    async def parker(reason: str) -> None:
        assert seen == []  # durably parked first, resolved after
        parked.append(reason)

    ack = Ack(
        sequence_number="1",
        on_done=lambda seq, outcome: seen.append((seq, outcome)),
        parker=parker,
    )
    await ack.park("undecodable")
    ack.delivered()
    await ack.park("again")
    assert seen == [("1", AckOutcome.PARKED)]
    assert parked == ["undecodable"]
    assert ack.outcome is AckOutcome.PARKED
