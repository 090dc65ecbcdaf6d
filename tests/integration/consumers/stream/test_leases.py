"""The lease table's conditional writes, against the embedded AWS over real HTTP."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from service.consumers.stream.errors import (
    LeaseLostError,
    LeaseMissingError,
    LeaseStoreUnavailableError,
)
from service.consumers.stream.leases import (
    SHARD_END,
    TRIM_HORIZON,
    LeaseStore,
    lease_key,
    stream_label,
)
from tests.support.clock import FakeClock

LABEL = "2026-03-01T00:00:00.000"
SHARD = "shardId-00000001772323200000-0a0b0c0d"


@pytest.fixture
def store(aws_clients, resources) -> LeaseStore:
    return LeaseStore(
        client=aws_clients.dynamodb,
        table_name=resources.names.leases_table,
        finished_retention_s=72 * 3600.0,
        clock=FakeClock(wall_start=1_800_000_000.0),
    )


async def fresh(store: LeaseStore, shard: str = SHARD, parent: str | None = None):
    assert await store.create(
        label=LABEL, shard_id=shard, parent_shard_id=parent, checkpoint=TRIM_HORIZON
    )
    lease = await store.get(lease_key(LABEL, shard))
    assert lease is not None
    return lease


def test_the_key_includes_the_stream_label():
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/raw/stream/2026-03-01T00:00:00.000"
    assert stream_label(arn) == LABEL
    assert lease_key(LABEL, SHARD) == f"{LABEL}#{SHARD}"


async def test_create_is_idempotent_and_keeps_the_first_row(store):
    lease = await fresh(store, parent="shardId-00000001772323100000-00000000")
    assert lease.counter == 0
    assert lease.owner is None
    assert lease.checkpoint == TRIM_HORIZON
    assert lease.parent_shard_id == "shardId-00000001772323100000-00000000"
    assert not await store.create(
        label=LABEL, shard_id=SHARD, parent_shard_id=None, checkpoint="LATEST"
    )
    again = await store.get(lease.key)
    assert again is not None
    assert again.checkpoint == TRIM_HORIZON


async def test_take_renew_checkpoint_release_each_move_the_counter(store):
    lease = await fresh(store)
    taken = await store.take(lease, owner="w1")
    assert (taken.owner, taken.counter, taken.owner_switches) == ("w1", 1, 1)
    renewed = await store.renew(taken, owner="w1")
    assert renewed.counter == 2
    checkpointed = await store.checkpoint(renewed, owner="w1", checkpoint="4000000000000000000001")
    assert (checkpointed.counter, checkpointed.checkpoint, checkpointed.owner_switches) == (
        3,
        "4000000000000000000001",
        0,
    )
    released = await store.release(checkpointed, owner="w1", checkpoint="4000000000000000000002")
    assert released.owner is None
    assert released.counter == 4
    assert released.checkpoint == "4000000000000000000002"


async def test_a_stale_counter_cannot_renew_or_checkpoint(store):
    lease = await fresh(store)
    mine = await store.take(lease, owner="w1")
    theirs = await store.take(mine, owner="w2")  # w2 saw it expire and took it
    with pytest.raises(LeaseLostError):
        await store.renew(mine, owner="w1")
    with pytest.raises(LeaseLostError):
        await store.checkpoint(mine, owner="w1", checkpoint="4000000000000000000009")
    current = await store.get(lease.key)
    assert current == theirs


async def test_two_takers_race_and_exactly_one_wins(store):
    lease = await fresh(store)
    winner = await store.take(lease, owner="w1")
    with pytest.raises(LeaseLostError):
        await store.take(lease, owner="w2")
    assert (await store.get(lease.key)) == winner


async def test_a_finished_lease_cannot_be_taken_and_expires_later(store, aws_clients, resources):
    lease = await store.take(await fresh(store), owner="w1")
    finished = await store.finish(lease, owner="w1", child_shard_ids=["c1", "c2"])
    assert finished.checkpoint == SHARD_END
    assert finished.owner is None
    assert finished.child_shard_ids == ("c1", "c2")
    with pytest.raises(LeaseLostError):
        await store.take(finished, owner="w2")
    item = (
        await aws_clients.dynamodb.get_item(
            TableName=resources.names.leases_table, Key={"lease_key": {"S": lease.key}}
        )
    )["Item"]
    assert int(item["expires_at"]["N"]) == 1_800_000_000 + 72 * 3600


async def test_live_leases_carry_no_ttl(store, aws_clients, resources):
    lease = await store.take(await fresh(store), owner="w1")
    await store.checkpoint(lease, owner="w1", checkpoint="4000000000000000000001")
    item = (
        await aws_clients.dynamodb.get_item(
            TableName=resources.names.leases_table, Key={"lease_key": {"S": lease.key}}
        )
    )["Item"]
    assert "expires_at" not in item


async def test_handoff_request_does_not_move_the_counter_and_release_names_the_next_owner(store):
    lease = await store.take(await fresh(store), owner="w1")
    assert await store.request_handoff(lease, requester="w2")
    assert not await store.request_handoff(lease, requester="w3")  # one request at a time
    seen = await store.renew(lease, owner="w1")
    assert seen.handoff_to == "w2"
    handed = await store.release(seen, owner="w1", checkpoint="4000000000000000000005", to="w2")
    assert handed.owner == "w2"
    assert handed.handoff_to is None
    assert handed.checkpoint == "4000000000000000000005"


async def test_list_returns_only_this_streams_leases(store):
    await fresh(store)
    assert await store.create(
        label="2026-04-01T00:00:00.000",
        shard_id=SHARD,
        parent_shard_id=None,
        checkpoint=TRIM_HORIZON,
    )
    leases = await store.list_leases(LABEL)
    assert [lease.key for lease in leases] == [lease_key(LABEL, SHARD)]


async def test_a_deleted_row_is_reported_as_missing(store, aws_clients, resources):
    lease = await store.take(await fresh(store), owner="w1")
    await aws_clients.dynamodb.delete_item(
        TableName=resources.names.leases_table, Key={"lease_key": {"S": lease.key}}
    )
    with pytest.raises(LeaseMissingError):
        await store.renew(lease, owner="w1")


async def test_a_write_whose_retry_failed_its_condition_is_confirmed_by_a_reread(
    store, aws_clients
):
    lease = await store.take(await fresh(store), owner="w1")
    left = {"n": 1}

    def lose_the_response(**_):
        if left["n"]:
            left["n"] -= 1
            raise ClientError(
                {"Error": {"Code": "ConditionalCheckFailedException", "Message": "retry"}},
                "UpdateItem",
            )

    aws_clients.dynamodb.meta.events.register("after-call.dynamodb.UpdateItem", lose_the_response)
    try:
        renewed = await store.renew(lease, owner="w1")
    finally:
        aws_clients.dynamodb.meta.events.unregister(
            "after-call.dynamodb.UpdateItem", lose_the_response
        )
    assert left["n"] == 0
    assert renewed.counter == lease.counter + 1
    assert renewed.owner == "w1"


async def test_transport_failures_are_unavailable_not_lost(store, aws_clients):
    lease = await store.take(await fresh(store), owner="w1")

    def unreachable(**_):
        raise EndpointConnectionError(endpoint_url="http://leases")

    aws_clients.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", unreachable)
    try:
        with pytest.raises(LeaseStoreUnavailableError):
            await store.renew(lease, owner="w1")
    finally:
        aws_clients.dynamodb.meta.events.unregister("before-call.dynamodb.UpdateItem", unreachable)
    assert (await store.get(lease.key)) == lease
