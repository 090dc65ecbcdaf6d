"""Readiness is probed in the background and answered at once, frozen dependency or not."""

import asyncio
import time

from service.health import Readiness
from tests.support.clock import FakeClock, settle


async def _fine() -> None:
    return None


async def _frozen() -> None:
    await asyncio.Event().wait()  # a dependency that accepted the call and never answers


async def test_not_ready_until_the_first_probe():
    readiness = Readiness(timeout_s=0.1, interval_s=60)
    readiness.add("dynamodb", _fine)
    assert readiness.current().ready is False
    await readiness.probe()
    assert readiness.current().ready is True


async def test_a_frozen_dependency_is_reported_within_the_timeout_and_answers_stay_instant():
    readiness = Readiness(timeout_s=0.2, interval_s=0.1)
    readiness.add("dynamodb", _fine)
    readiness.add("sqs", _frozen)
    stop = asyncio.Event()
    probing = asyncio.create_task(readiness.run(stop))
    try:
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        result = readiness.current()
        assert time.perf_counter() - started < 0.01
        assert result.ready is False
        assert result.failing == {"sqs": "no answer within 0.2 s"}
    finally:
        stop.set()
        await probing


async def test_a_stalled_prober_is_not_ready():
    clock = FakeClock()
    readiness = Readiness(timeout_s=1, interval_s=1, stale_after_s=5, clock=clock)
    readiness.add("sns", _fine)
    await readiness.probe()
    assert readiness.current().ready is True
    clock.tick(6.0)
    result = readiness.current()
    assert result.ready is False
    assert "probe" in result.failing


async def test_recovery_is_seen_at_the_next_probe():
    healthy = asyncio.Event()

    async def flaky() -> None:
        if not healthy.is_set():
            raise ConnectionError("refused")

    readiness = Readiness(timeout_s=0.2, interval_s=60)
    readiness.add("sqs", flaky)
    await readiness.probe()
    assert readiness.current().failing == {"sqs": "ConnectionError: refused"}
    healthy.set()
    await readiness.probe()
    assert readiness.current().ready is True


async def test_a_ready_task_probes_seldom_and_one_not_ready_probes_every_retry():
    clock = FakeClock()
    calls: list[float] = []
    healthy = False

    async def sqs() -> None:
        calls.append(clock.monotonic())
        if not healthy:
            raise ConnectionError("refused")

    readiness = Readiness(timeout_s=1, interval_s=15, retry_s=1, clock=clock)
    readiness.add("sqs", sqs)
    stop = asyncio.Event()
    probing = asyncio.create_task(readiness.run(stop))
    try:
        await settle()
        for _ in range(3):
            await clock.advance(1.0)
        assert [t - 1_000.0 for t in calls] == [0.0, 1.0, 2.0, 3.0]
        healthy = True
        await clock.advance(1.0)
        assert readiness.current().ready is True
        await clock.advance(14.0)
        assert len(calls) == 5  # ready: the next probe waits the whole interval
        await clock.advance(1.0)
        assert len(calls) == 6
    finally:
        stop.set()
        await probing
