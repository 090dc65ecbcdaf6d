import gc
import json
import tracemalloc
from datetime import UTC, datetime
from typing import Any

import pytest

from service.consumers.stream.records import Ack, AckOutcome, StreamRecord, parse_new_message


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


def _text_image(n: int) -> dict[str, Any]:
    """A raw item as the stream serves it for a short WhatsApp text (the real shape)."""
    wamid = f"wamid.HBgLMTU1NTAwMDAwMDEVAgASGBQzQUE{n:07d}=="
    message = json.dumps(
        {
            "b": {"i": "1234567890", "d": "+1 555 0100"},
            "c": {"w": f"1555{n:07d}", "n": "Ana"},
            "k": f"1234567890#wa:1555{n:07d}",
            "m": wamid,
            "t": 1772360130,
            "y": "text",
            "p": {"body": "waiting for an agent, order 1042"},
        },
        separators=(",", ":"),
    )
    return {
        "customer": {"S": f"1234567890#wa:1555{n:07d}"},
        "message_id": {"S": wamid},
        "message": {"S": message},
        "wa_timestamp": {"N": "1772360130"},
        "received_at_ms": {"N": "1772360130123"},
        "expires_at": {"N": "1772964930"},
    }


@pytest.mark.parametrize(
    "extra",
    [{}, {"blob": {"B": b"\x00\x01"}}],  # binary has no JSON form: kept as it was read
    ids=["text", "binary attribute"],
)
def test_a_record_gives_back_its_maps_as_read_and_its_repr_names_no_content(extra):
    image = _text_image(1) | extra
    keys = {"customer": image["customer"], "message_id": image["message_id"]}
    record = StreamRecord(
        shard_key="L#s",
        shard_id="s",
        sequence_number="1",
        keys=keys,
        new_image=image,
        approximate_created_at=None,
    )
    assert record.new_image == image
    assert record.keys == keys
    assert "1555" not in repr(record)
    assert "waiting" not in repr(record)


def test_a_held_record_costs_less_than_half_its_attribute_maps():
    # Issue 14: records are held until acknowledged, so 10,000 customers waiting for an
    # agent hold 10,000 of them. Measured: ~810 bytes each, ~2,150 as botocore's maps.
    count = 2_000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        images = [_text_image(n) for n in range(count)]  # the page botocore parsed
        records = [
            parse_new_message(
                {
                    "eventName": "INSERT",
                    "dynamodb": {
                        "SequenceNumber": str(n),
                        "Keys": {"customer": i["customer"], "message_id": i["message_id"]},
                        "NewImage": i,
                    },
                },
                shard_key="L#s",
                shard_id="s",
            )
            for n, i in enumerate(images)
        ]
        del images  # as the reader's page of records is, once they are handed over
        gc.collect()
        each = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    print(f"{each:.0f} bytes a held record")
    assert all(r is not None for r in records)
    assert each < 1_200


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
