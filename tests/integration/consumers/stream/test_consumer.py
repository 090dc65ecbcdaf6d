"""Coordinator behaviour beyond the section 8 rows: handoff deadline, caps, positions, view."""

import dataclasses
import re

from service.consumers.stream.consumer import make_worker_id
from service.consumers.stream.leases import SHARD_END, TRIM_HORIZON
from tests.fakes.stream_cluster import FAST
from tests.support.waiting import eventually


def test_worker_ids_are_task_id_and_a_fresh_uuid():
    first, second = make_worker_id("task-7"), make_worker_id("task-7")
    assert re.fullmatch(r"task-7/[0-9a-f-]{36}", first)
    assert first != second


async def test_an_owner_that_ignores_a_handoff_request_loses_the_lease_after_the_deadline(cluster):
    streams = cluster.streams
    shards = [streams.add_shard() for _ in range(2)]
    a = cluster.start("a")
    await eventually(lambda: len(a.consumer.held_shards()) == 2)

    # An owner that never honours handoff requests (an old version, or a stuck one).
    def ignore_handoff(_held, *, to):
        del to

    a.consumer._begin_handoff = ignore_handoff
    b = cluster.start("b")
    await eventually(lambda: b.metric("bridge_stream_handoffs_total", {"role": "requested"}) == 1)
    assert b.consumer.held_shards() == []
    await eventually(
        lambda: len(b.consumer.held_shards()) == 1, timeout_s=FAST.handoff_deadline_s + 3
    )
    assert b.metric("bridge_stream_handoffs_total", {"role": "forced"}) == 1
    await eventually(lambda: len(a.consumer.held_shards()) == 1)
    assert a.metric("bridge_stream_lease_lost_total", {"reason": "taken"}) == 1
    assert sorted(a.consumer.held_shards() + b.consumer.held_shards()) == sorted(shards)


async def test_a_worker_never_holds_more_than_its_cap(cluster):
    streams = cluster.streams
    for _ in range(5):
        streams.add_shard()
    capped = dataclasses.replace(FAST, max_leases_per_worker=2)
    a = cluster.start("a", config=capped)
    await eventually(lambda: len(a.consumer.held_shards()) == 2)
    leases = await cluster.leases()
    assert sum(1 for lease in leases.values() if lease.owner is None) == 3


async def test_latest_applies_to_root_shards_only_and_children_start_at_trim_horizon(cluster):
    streams = cluster.streams
    root = streams.add_shard()
    streams.put(root, customer="c1", message_id="before-start")
    latest = dataclasses.replace(FAST, initial_position="LATEST")
    cluster.start("a", config=latest)
    await eventually(lambda: streams.calls["GetShardIterator"] >= 1, message="reading from LATEST")
    streams.put(root, customer="c1", message_id="after-start")
    child = streams.rollover(root)
    streams.put(child, customer="c1", message_id="in-child")
    await eventually(lambda: cluster.delivered_ids() == ["after-start", "in-child"])
    leases = await cluster.leases()
    assert leases[root].checkpoint == SHARD_END


async def test_the_finisher_of_a_parent_takes_its_children(cluster):
    streams = cluster.streams
    parent = streams.add_shard()
    streams.put(parent, customer="c1", message_id="p0")
    # Scans are rare here, so only the finisher's immediate child look-up sees the children.
    rare_scans = dataclasses.replace(FAST, scan_interval_s=30.0)
    a = cluster.start("a", mode="manual", config=rare_scans)
    await eventually(lambda: a.handler.pending_count() == 1)
    b = cluster.start("b", config=rare_scans)
    await eventually(lambda: cluster.streams.calls["DescribeStream"] >= 2)
    left, right = streams.split(parent)
    streams.put(left, customer="c1", message_id="l0")
    a.handler.ack_all()
    await eventually(lambda: a.handler.pending_count() == 1)
    a.handler.ack_all()
    # The customers it already buffers stay with it, in order.
    assert sorted(a.consumer.held_shards()) == sorted([left, right])
    assert b.consumer.held_shards() == []
    assert cluster.delivered_ids() == ["p0", "l0"]


async def test_snapshot_lists_every_shard_with_owner_checkpoint_parent_and_state(cluster):
    streams = cluster.streams
    parent = streams.add_shard()
    streams.put(parent, customer="c1", message_id="p0")
    child = streams.rollover(parent)
    a = cluster.start("a", mode="manual")
    await eventually(lambda: a.handler.pending_count() == 1)
    await eventually(lambda: len(a.consumer.snapshot()) == 2)
    view = {shard.shard_id: shard for shard in a.consumer.snapshot()}
    assert view[parent].state == "reading"
    assert view[parent].owner == a.id
    assert view[parent].pending_records == 1
    assert view[parent].checkpoint_lag_s is not None
    assert 0.0 <= view[parent].checkpoint_lag_s < 60
    assert view[parent].owner_switches == 1
    assert view[parent].checkpoint == TRIM_HORIZON
    assert view[child].state == "waiting_for_parent"
    assert view[child].parent_shard_id == parent
    a.handler.ack_all()
    await eventually(
        lambda: {s.shard_id: s.state for s in a.consumer.snapshot()}.get(parent) == "finished"
    )


async def test_stop_before_any_shard_exists_returns_promptly(cluster):
    a = cluster.start("a")
    await eventually(lambda: cluster.streams.calls["DescribeStream"] >= 1)
    await a.stop()
    assert a.task is not None
    assert a.task.done()
