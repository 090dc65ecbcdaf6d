"""Token buckets and the Connect quota registry, on a fake clock whose sleeps advance it."""

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from service.bridge.policy.ratelimit import (
    ConnectRateLimits,
    Limiter,
    Rate,
)
from service.clock import SystemClock
from tests.support.clock import FakeClock, settle

ACCOUNT_SCOPE = "account"


@pytest.fixture
def clock():
    return FakeClock(auto_advance=True)


async def _acquire_times(bucket: Limiter, clock: FakeClock, count: int) -> list[float]:
    times = []
    for _ in range(count):
        await bucket.acquire()
        times.append(clock.monotonic() - 1000.0)
    return times


async def test_a_full_bucket_serves_its_burst_without_waiting(clock):
    bucket = Limiter(Rate(5, 8), clock=clock)

    times = await _acquire_times(bucket, clock, 8)

    assert times == [0.0] * 8
    assert clock.sleeps == []


async def test_after_the_burst_calls_are_spaced_at_the_rate(clock):
    bucket = Limiter(Rate(5, 8), clock=clock)

    times = await _acquire_times(bucket, clock, 13)

    assert times[:8] == [0.0] * 8
    assert times[8:] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])


async def test_idle_time_refills_up_to_the_burst_and_no_further(clock):
    bucket = Limiter(Rate(2, 5), clock=clock)
    await _acquire_times(bucket, clock, 5)

    await clock.advance(1.0)  # two tokens back
    start = clock.monotonic()
    for _ in range(2):
        assert await bucket.acquire() == 0.0
    assert await bucket.acquire() == pytest.approx(0.5)
    assert clock.monotonic() - start == pytest.approx(0.5)

    await clock.advance(3600.0)  # an hour refills to the burst, not to 7200 tokens
    waits = [await bucket.acquire() for _ in range(6)]
    assert waits == pytest.approx([0, 0, 0, 0, 0, 0.5])


async def test_concurrent_waiters_are_served_in_order_one_interval_apart(clock):
    bucket = Limiter(Rate(10, 1), clock=clock)
    served: list[tuple[int, float]] = []

    async def call(index: int) -> None:
        await bucket.acquire()
        served.append((index, clock.monotonic() - 1000.0))

    async with asyncio.TaskGroup() as group:
        for index in range(5):
            group.create_task(call(index))

    assert [index for index, _ in served] == [0, 1, 2, 3, 4]
    assert [at for _, at in served] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


async def test_a_cancelled_waiter_takes_no_token():
    clock = FakeClock()  # time moves only when the test moves it
    bucket = Limiter(Rate(1, 1), clock=clock)
    await bucket.acquire()

    waiter = asyncio.create_task(bucket.acquire())
    await settle()
    assert clock.sleeps == [1.0]
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter

    clock.set(1.0)  # exactly one token is due, and it is still there
    async with asyncio.timeout(5):
        assert await bucket.acquire() == 0.0


async def test_the_system_clock_really_paces_calls():
    bucket = Limiter(Rate(50, 1), clock=SystemClock())
    loop = asyncio.get_running_loop()

    start = loop.time()
    for _ in range(4):
        await bucket.acquire()

    assert loop.time() - start >= 3 / 50 * 0.95


def _waits(registry: CollectorRegistry, api: str) -> float:
    return registry.get_sample_value("bridge_connect_ratelimit_waits_total", {"api": api}) or 0.0


async def test_registry_uses_the_documented_quotas(clock):
    limits = ConnectRateLimits(registry=CollectorRegistry(), clock=clock)

    assert limits.rate("StartChatContact") == Rate(5, 8)
    assert limits.rate("StartContactStreaming") == Rate(5, 8)
    assert limits.rate("SendMessage") == Rate(10, 15)
    assert limits.rate("SendEvent") == Rate(10, 15)
    assert limits.rate("CreateParticipantConnection") == Rate(6, 9)
    assert limits.rate("StartAttachmentUpload") == Rate(2, 5)
    assert limits.rate("CompleteAttachmentUpload") == Rate(2, 5)
    assert limits.rate("GetAttachment") == Rate(8, 12)
    assert limits.rate("DisconnectParticipant") == Rate(3, 5)
    with pytest.raises(ValueError, match="no rate"):
        limits.rate("DeleteEverything")


async def test_send_message_and_send_event_share_one_bucket_per_instance(clock):
    registry = CollectorRegistry()
    limits = ConnectRateLimits(registry=registry, clock=clock)

    for _ in range(10):
        await limits.acquire("SendMessage", "instance-a")
    for _ in range(5):
        await limits.acquire("SendEvent", "instance-a")
    assert clock.sleeps == []

    await limits.acquire("SendEvent", "instance-a")
    assert clock.sleeps == pytest.approx([0.1])
    assert _waits(registry, "SendEvent") == 1
    assert _waits(registry, "SendMessage") == 0

    # Another instance has its own quota.
    for _ in range(15):
        await limits.acquire("SendMessage", "instance-b")
    assert clock.sleeps == pytest.approx([0.1])


async def test_waits_are_counted_per_api_with_their_seconds(clock):
    registry = CollectorRegistry()
    limits = ConnectRateLimits(registry=registry, clock=clock)

    for _ in range(10):
        await limits.acquire("StartChatContact", ACCOUNT_SCOPE)

    assert _waits(registry, "StartChatContact") == 2
    seconds = registry.get_sample_value(
        "bridge_connect_ratelimit_wait_seconds_total", {"api": "StartChatContact"}
    )
    assert seconds == pytest.approx(0.4)


async def test_a_caller_queued_behind_others_counts_its_whole_wait():
    clock = FakeClock()  # time moves only when the test moves it
    registry = CollectorRegistry()
    limits = ConnectRateLimits(
        registry=registry, overrides={"GetTranscript": Rate(10, 1)}, clock=clock
    )

    callers = [
        asyncio.create_task(limits.acquire("GetTranscript", ACCOUNT_SCOPE)) for _ in range(4)
    ]
    await settle()  # all four arrived at 0 s; the first took the only token
    for _ in range(3):
        await clock.advance(0.1)
    await asyncio.gather(*callers)

    # Served at 0, 0.1, 0.2 and 0.3 s: three callers waited 0.1 + 0.2 + 0.3 s in all,
    # most of it queued behind the caller ahead, not sleeping for their own token.
    assert _waits(registry, "GetTranscript") == 3
    seconds = registry.get_sample_value(
        "bridge_connect_ratelimit_wait_seconds_total", {"api": "GetTranscript"}
    )
    assert seconds == pytest.approx(0.6)


async def test_overrides_replace_a_quota(clock):
    limits = ConnectRateLimits(
        registry=CollectorRegistry(),
        overrides={"StartChatContact": Rate(1, 1), "GetContactAttributes": Rate(10, 15)},
        clock=clock,
    )

    await limits.acquire("StartChatContact", ACCOUNT_SCOPE)
    await limits.acquire("StartChatContact", ACCOUNT_SCOPE)

    assert clock.sleeps == pytest.approx([1.0])
    assert limits.rate("GetContactAttributes") == Rate(10, 15)
    assert limits.rate("SendMessage") == Rate(10, 15)


def test_a_shared_quota_is_overridden_through_its_owner():
    with pytest.raises(ValueError, match="SendEvent"):
        ConnectRateLimits(registry=CollectorRegistry(), overrides={"SendEvent": Rate(1, 1)})


@pytest.mark.parametrize(("per_second", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_rates_must_be_positive(per_second, burst):
    with pytest.raises(ValueError):
        Rate(per_second, burst)


async def test_acquire_within_zero_takes_a_token_only_when_one_is_there_and_never_waits(clock):
    limits = ConnectRateLimits(registry=CollectorRegistry(), clock=clock)
    burst = limits.rate("GetTranscript").burst

    taken = [
        await limits.acquire_within("GetTranscript", "instance", 0.0) for _ in range(burst + 3)
    ]

    assert taken == [True] * burst + [False] * 3
    assert clock.sleeps == []
    clock.tick(1.0 / limits.rate("GetTranscript").per_second)
    assert await limits.acquire_within("GetTranscript", "instance", 0.0)
    assert not await limits.acquire_within("GetTranscript", "instance", 0.0)


async def test_acquire_within_waits_for_a_token_due_in_time_and_refuses_a_later_one(clock):
    bucket = Limiter(Rate(8, 12), clock=clock)
    await _acquire_times(bucket, clock, 12)  # the burst is spent

    start = clock.monotonic()
    assert await bucket.acquire_within(0.2)  # the next token is 0.125 s away
    assert clock.monotonic() - start == pytest.approx(0.125)
    assert not await bucket.acquire_within(0.1)  # the one after is 0.125 s away again
    assert clock.monotonic() - start == pytest.approx(0.125), "a refusal waits for nothing"


async def test_acquire_within_counts_the_callers_already_waiting():
    clock = FakeClock()
    bucket = Limiter(Rate(8, 12), clock=clock)
    for _ in range(12):
        await bucket.acquire()
    # Eight callers wait their turn: the ninth's token is 9/8 s away, not 1/8.
    waiting = [asyncio.create_task(bucket.acquire()) for _ in range(8)]
    await settle()
    assert not await bucket.acquire_within(1.0)
    late = asyncio.create_task(bucket.acquire_within(1.2))
    await clock.advance(1.2)
    assert await late
    await asyncio.gather(*waiting)
