import random

from service.consumers.stream.balancing import ExpiryObserver, plan_leases
from service.consumers.stream.leases import SHARD_END, Lease
from tests.support.clock import FakeClock


def lease(n: int, owner: str | None, counter: int = 1, **kwargs) -> Lease:
    return Lease(
        key=f"label#s{n}",
        shard_id=f"s{n}",
        counter=counter,
        owner=owner,
        checkpoint="TRIM_HORIZON",
        **kwargs,
    )


def plan(leases, *, me="me", held=(), observer=None, max_leases=64, **kwargs):
    observer = observer or ExpiryObserver(clock=FakeClock())
    observer.observe(leases)
    return plan_leases(
        leases=leases,
        me=me,
        held=set(held),
        observer=observer,
        duration_s=10.0,
        max_leases=max_leases,
        rng=random.Random(1),
        **kwargs,
    )


def test_expiry_is_judged_by_the_observers_clock_from_first_sight():
    clock = FakeClock()
    observer = ExpiryObserver(clock=clock)
    owned = lease(1, "other", counter=5)
    observer.observe([owned])
    clock.tick(9.9)
    assert not observer.is_expired(owned, duration_s=10)
    clock.tick(0.2)
    assert observer.is_expired(owned, duration_s=10)
    renewed = lease(1, "other", counter=6)
    observer.observe([renewed])
    assert not observer.is_expired(renewed, duration_s=10)


def test_unowned_leases_are_available_at_once():
    observer = ExpiryObserver(clock=FakeClock())
    free = lease(1, None)
    observer.observe([free])
    assert observer.is_expired(free, duration_s=10)


def test_takes_unowned_up_to_the_target_of_ceil_shards_over_live_workers():
    leases = [lease(1, "w1"), lease(2, "w1"), lease(3, None), lease(4, None), lease(5, None)]
    result = plan(leases)
    assert result.target == 3  # ceil(5 / 2)
    assert len(result.take) == 3
    assert {taken.shard_id for taken in result.take} <= {"s3", "s4", "s5"}


def test_finished_leases_are_never_taken_or_counted():
    done = Lease(key="label#s9", shard_id="s9", counter=3, owner=None, checkpoint=SHARD_END)
    result = plan([done, lease(1, None)])
    assert [taken.shard_id for taken in result.take] == ["s1"]
    assert result.target == 1


def test_expired_leases_are_taken_but_live_ones_are_not():
    clock = FakeClock()
    observer = ExpiryObserver(clock=clock)
    leases = [lease(1, "dead"), lease(2, "alive")]
    observer.observe(leases)
    clock.tick(11)
    observer.observe([lease(1, "dead"), lease(2, "alive", counter=2)])
    result = plan([lease(1, "dead"), lease(2, "alive", counter=2)], observer=observer)
    assert [taken.shard_id for taken in result.take] == ["s1"]


def test_asks_the_busiest_worker_for_one_lease_when_below_target():
    leases = [lease(n, "busy") for n in range(4)]
    result = plan(leases)
    assert result.take == []
    assert result.request_handoff is not None
    assert result.request_handoff.owner == "busy"


def test_does_not_ask_a_worker_at_target_when_only_one_below():
    leases = [lease(1, "w1"), lease(2, "w1"), lease(3, "me")]
    result = plan(leases, held={"label#s3"})
    assert result.request_handoff is None


def test_no_second_request_while_one_is_pending():
    leases = [lease(n, "busy") for n in range(4)]
    assert plan(leases, handoff_pending=True).request_handoff is None


def test_leases_handed_to_us_are_adopted():
    result = plan([lease(1, "me"), lease(2, "w1")])
    assert [taken.shard_id for taken in result.take] == ["s1"]


def test_preferred_children_come_first_and_the_cap_holds():
    leases = [lease(n, None) for n in range(6)]
    result = plan(leases, preferred_shards=frozenset({"s5"}), max_leases=2)
    assert next(taken.shard_id for taken in result.take) == "s5"
    assert len(result.take) == 2


def test_long_orphaned_leases_are_taken_even_above_target():
    clock = FakeClock()
    observer = ExpiryObserver(clock=clock)
    leases = [lease(1, "ghost"), lease(2, "w1"), lease(3, "me"), lease(4, "me")]
    observer.observe(leases)
    clock.tick(31)
    leases = [lease(1, "ghost"), lease(2, "w1", counter=9), lease(3, "me"), lease(4, "me")]
    result = plan(leases, held={"label#s3", "label#s4"}, observer=observer)
    assert result.target == 2  # already at target, yet the orphan is not left idle
    assert [taken.shard_id for taken in result.take] == ["s1"]
