"""Separate worker processes on the embedded AWS's real stream, one killed with SIGKILL."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from service.consumers.stream.leases import TRIM_HORIZON, LeaseStore, stream_label
from tests.support.waiting import eventually

WORKER = Path(__file__).with_name("worker_process.py")
MESSAGES = 60


def delivered(paths: list[Path]) -> list[dict[str, str]]:
    lines: list[dict[str, str]] = []
    for path in paths:
        if path.exists():
            lines.extend(json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return lines


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_sigkilled_worker_process_loses_nothing(aws, aws_clients, resources, tmp_path):
    env = {
        **os.environ,
        "TEST_STREAM_ARN": resources.created.stream_arn,
        "TEST_LEASES_TABLE": resources.names.leases_table,
    }
    store = LeaseStore(
        client=aws_clients.dynamodb,
        table_name=resources.names.leases_table,
        finished_retention_s=72 * 3600.0,
    )
    label = stream_label(resources.created.stream_arn)
    outputs = {name: tmp_path / f"{name}.jsonl" for name in ("p1", "p2")}
    processes = {
        name: subprocess.Popen(  # noqa: ASYNC220  a bounded child process of the test
            [sys.executable, str(WORKER), str(path), name], env=env
        )
        for name, path in outputs.items()
    }
    checkpoints: list[int] = []

    async def owner() -> str | None:
        leases = await store.list_leases(label)
        if leases and leases[0].checkpoint != TRIM_HORIZON:
            checkpoints.append(int(leases[0].checkpoint))
        return leases[0].owner if leases else None

    try:
        for i in range(MESSAGES):
            await aws_clients.dynamodb.put_item(
                TableName=resources.names.raw_table,
                Item={"customer": {"S": f"c{i % 3}"}, "message_id": {"S": f"m{i}"}},
            )
            await asyncio.sleep(0.05)
            if i % 5 == 0:
                await owner()  # samples the checkpoint as it moves
            if i == MESSAGES // 2:
                # On a loaded machine two interpreters can take seconds to start: kill the
                # owner once there is one, however long that took.
                async def held() -> bool:
                    return await owner() is not None

                await eventually(held, timeout_s=30, message="a worker holds the shard")
                holder = await owner()
                assert holder is not None
                victim = holder.split("/", 1)[0]
                processes[victim].send_signal(signal.SIGKILL)
                processes[victim].wait(timeout=10)
        expected = {f"m{i}" for i in range(MESSAGES)}
        await eventually(
            lambda: {line["message_id"] for line in delivered(list(outputs.values()))} >= expected,
            timeout_s=30,
            message="every message delivered by some worker",
        )
        survivor = next(name for name, process in processes.items() if process.poll() is None)
        await owner()
        started = time.monotonic()
        processes[survivor].send_signal(signal.SIGTERM)
        assert processes[survivor].wait(timeout=15) == 0
        assert time.monotonic() - started < 10
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    lines = delivered(list(outputs.values()))
    assert {line["message_id"] for line in lines} == expected
    # Duplicates come only from the killed worker's undelivered tail: never twice per worker.
    for name in outputs:
        mine = [line["message_id"] for line in lines if line["worker"] == name]
        assert len(mine) == len(set(mine))
    assert checkpoints == sorted(checkpoints)  # never backwards
    final = (await store.list_leases(label))[0]
    assert final.owner is None  # released on SIGTERM
    assert victim != survivor
