import pytest

from service.consumers.stream.errors import StreamThrottledError, StreamUnavailableError
from service.consumers.stream.leases import SHARD_END, Lease
from service.consumers.stream.shards import (
    ShardDiscovery,
    ShardInfo,
    StreamView,
    parent_blocks,
    shard_created_at,
)
from tests.fakes.streams import FakeStreams

NOW = 1_800_000_000.0
DAY = 24 * 3600.0


def test_creation_time_is_read_from_the_shard_id():
    assert shard_created_at("shardId-00000001573689847184-864758bb") == 1573689847.184
    assert shard_created_at("not-a-shard-id") is None


async def test_describe_walks_every_page():
    streams = FakeStreams()
    shards = [streams.add_shard() for _ in range(5)]
    streams.page_size = 2
    view = await ShardDiscovery(streams=streams, stream_arn=streams.arn, page_limit=100).describe()
    assert set(view.shards) == set(shards)
    assert streams.calls["DescribeStream"] == 3
    assert view.status == "ENABLED"


async def test_closed_and_parent_are_reported():
    streams = FakeStreams()
    parent = streams.add_shard()
    child = streams.rollover(parent)
    view = await ShardDiscovery(streams=streams, stream_arn=streams.arn, page_limit=100).describe()
    assert view.shards[parent] == ShardInfo(parent, None, closed=True)
    assert view.shards[child] == ShardInfo(child, parent, closed=False)


async def test_children_come_from_the_child_shards_filter():
    streams = FakeStreams()
    parent = streams.add_shard()
    left, right = streams.split(parent)
    streams.add_shard()  # unrelated
    streams.page_size = 1
    children = await ShardDiscovery(
        streams=streams, stream_arn=streams.arn, page_limit=100
    ).children_of(parent)
    assert {info.shard_id for info in children} == {left, right}


class IgnoresFilter(FakeStreams):
    """Like moto: the CHILD_SHARDS filter is ignored and the shard itself is listed."""

    async def describe_stream(self, **kwargs):
        kwargs.pop("ShardFilter", None)
        return await super().describe_stream(**kwargs)


async def test_a_shard_is_never_taken_for_its_own_child():
    streams = IgnoresFilter()
    shard = streams.add_shard()
    children = await ShardDiscovery(
        streams=streams, stream_arn=streams.arn, page_limit=100
    ).children_of(shard)
    assert children == []


class RepeatsItsLastPage(FakeStreams):
    """A service bug: the last page points back at where it started."""

    async def describe_stream(self, **kwargs):
        response = await super().describe_stream(**kwargs)
        start = kwargs.get("ExclusiveStartShardId")
        if start is not None and "LastEvaluatedShardId" not in response["StreamDescription"]:
            response["StreamDescription"]["LastEvaluatedShardId"] = start
        return response


async def test_a_page_pointing_back_at_its_start_ends_the_walk():
    streams = RepeatsItsLastPage()
    shards = {streams.add_shard() for _ in range(3)}
    streams.page_size = 2
    discovery = ShardDiscovery(streams=streams, stream_arn=streams.arn, page_limit=100)
    view = await discovery.describe()
    assert set(view.shards) == shards
    assert streams.calls["DescribeStream"] == 2


async def test_throttling_and_failures_are_typed():
    streams = FakeStreams()
    discovery = ShardDiscovery(streams=streams, stream_arn=streams.arn, page_limit=100)
    streams.fail("DescribeStream", "LimitExceededException")
    with pytest.raises(StreamThrottledError):
        await discovery.describe()
    streams.fail("DescribeStream", "InternalServerError")
    with pytest.raises(StreamUnavailableError):
        await discovery.describe()


def lease(shard: str, parent: str | None, checkpoint: str = "TRIM_HORIZON") -> Lease:
    return Lease(
        key=f"l#{shard}",
        shard_id=shard,
        counter=1,
        owner=None,
        checkpoint=checkpoint,
        parent_shard_id=parent,
    )


def blocks(
    child: Lease, leases: list[Lease], view_shards: dict[str, ShardInfo] | None = None
) -> bool:
    view = StreamView(status="ENABLED", shards=view_shards or {})
    return parent_blocks(
        child,
        leases_by_shard={lease.shard_id: lease for lease in leases},
        view=view,
        now_wall=NOW,
        missing_parent_block_s=DAY + 3600,
    )


def test_a_child_waits_until_its_parent_lease_says_shard_end():
    parent = "shardId-00000001799990000000-aaaaaaaa"
    child = lease("shardId-00000001799999000000-bbbbbbbb", parent)
    assert blocks(child, [lease(parent, None, checkpoint="4000000000000000000001")])
    assert not blocks(child, [lease(parent, None, checkpoint=SHARD_END)])


def test_a_parent_listed_but_without_lease_yet_blocks():
    parent = "shardId-00000001000000000000-aaaaaaaa"
    child = lease("shardId-00000001799999000000-bbbbbbbb", parent)
    assert blocks(child, [], {parent: ShardInfo(parent, None, closed=True)})


def test_a_missing_parent_blocks_only_while_it_may_hold_records():
    young = f"shardId-{int((NOW - 3600) * 1000):020d}-aaaaaaaa"
    old = f"shardId-{int((NOW - 2 * DAY) * 1000):020d}-aaaaaaaa"
    assert blocks(lease("c1", young), [])
    assert not blocks(lease("c2", old), [])
    assert not blocks(lease("c3", "weird-id"), [])
    assert not blocks(lease("root", None), [])
