"""Two bridge processes share the stream; SIGKILL of the owner mid-burst loses and doubles nothing.

Real processes (`python -m service run`), the embedded AWS and the simulator, over HTTP.
The burst is buffered in the owner's memory (not yet delivered) when the owner is killed;
the survivor takes the shard lease once it expires and replays from the checkpoint.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.local.ports import free_loopback_ports
from tests.e2e.conftest import Sandbox, text
from tests.support.bridge import TOKEN
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

LEASE_S = 3.0
SCAN_S = 1.0
# Short, so a message handed to the killed worker's open long poll comes back quickly.
VISIBILITY_S = 4


class Worker:
    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_loopback_ports(1)[0]
        self.log = (log_dir / f"{name}.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "run"],
            env=env | {"BRIDGE_ADMIN_PORT": str(self.port), "BRIDGE_TASK_ID": name},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        )

    async def ready(self) -> bool:
        try:
            return (await self.http.get("/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    async def held(self) -> list[str]:
        held: list[str] = (await self.http.get("/admin/shards")).json()["held"]
        return held

    async def buffered(self) -> int:
        customers: list[dict[str, int]] = (await self.http.get("/admin/buffers")).json()[
            "customers"
        ]
        return sum(int(c["messages"]) for c in customers)

    async def close(self) -> None:
        await self.http.aclose()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, 15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture
async def workers(sim, resources, moto_url, tmp_path, aws_clients) -> Any:
    await aws_clients.sqs.set_queue_attributes(
        QueueUrl=resources.queue_url(resources.names.inbound_queue),
        Attributes={"VisibilityTimeout": str(VISIBILITY_S)},
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "SANDBOX_"))}
    env |= {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_CONNECT": sim,
        "AWS_ENDPOINT_URL_CONNECTPARTICIPANT": sim,
        "AWS_ENDPOINT_URL_SOCIALMESSAGING": sim,
        "BRIDGE_NAME_PREFIX": "test",
        "BRIDGE_ADMIN_TOKEN": TOKEN,
        "BRIDGE_OUTBOUND_TOPIC_ARN": resources.outbound_topic_arn,
        "BRIDGE_LOG_FORMAT": "json",
        "BRIDGE_BUFFER_QUIET_S": "2",
        "BRIDGE_BUFFER_MAX_WAIT_S": "10",
        "BRIDGE_STREAM_LEASE_DURATION_S": str(LEASE_S),
        "BRIDGE_STREAM_SCAN_INTERVAL_S": str(SCAN_S),
        "BRIDGE_DRAIN_TIMEOUT_S": "5",
    }
    started = [Worker("worker-a", env, tmp_path), Worker("worker-b", env, tmp_path)]
    try:
        for worker in started:
            await eventually(worker.ready, timeout_s=60)
        yield started
    finally:
        for worker in started:
            await worker.close()


@pytest.mark.timeout(180)
async def test_sigkill_of_the_owner_mid_burst_delivers_every_message_exactly_once(
    workers: list[Worker], world: Sandbox
):
    async def owner() -> Worker | None:
        for worker in workers:
            if await worker.held():
                return worker
        return None

    first_owner: Worker = await eventually(owner, timeout_s=30)
    survivor = next(w for w in workers if w is not first_owner)
    wa = "5215512345678"
    await world.send(wa, text("one"), text("two"), text("three"), delay_ms=100)

    async def buffered_at_owner() -> bool:
        return await first_owner.buffered() >= 3

    await eventually(buffered_at_owner, timeout_s=15, interval_s=0.05)
    first_owner.process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    await world.send(wa, text("four"), text("five"))

    async def taken_over() -> bool:
        return bool(await survivor.held())

    await eventually(taken_over, timeout_s=LEASE_S * 4 + SCAN_S * 4, interval_s=0.1)
    takeover_s = time.monotonic() - killed_at

    async def delivered():
        found = await world.customer_messages()
        lines = {line for _, content in found for line in content.split("\n")}
        return found if lines == {"one", "two", "three", "four", "five"} else None

    await eventually(delivered, timeout_s=40)
    await asyncio.sleep(VISIBILITY_S + 3)  # a late duplicate would arrive by now
    found = await world.customer_messages()
    lines = [line for _, content in found for line in content.split("\n")]
    assert sorted(lines) == sorted(["one", "two", "three", "four", "five"]), lines
    # A message the killed worker had already taken from SQS comes back after the
    # visibility timeout, possibly after later ones; every burst is in order within itself.
    order = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
    for _, content in found:
        numbers = [order[line] for line in content.split("\n")]
        assert numbers == sorted(numbers), content
    contacts = await world.contacts()
    assert len(contacts) == 1
    tokens = [
        i["clientToken"]
        for i in contacts[0]["transcript"]
        if i["participantRole"] == "CUSTOMER" and i["contentType"] == "text/plain"
    ]
    assert len(tokens) == len(set(tokens))
    print(f"takeover after SIGKILL: {takeover_s:.1f} s (lease {LEASE_S} s, scan {SCAN_S} s)")
    # Expiry runs from when the survivor first saw the owner's last renewal (KCL's rule:
    # never compare hosts' clocks), which it learns at a scan; the take happens at the
    # next scan after expiry. Hence lease + two scans (with jitter), plus process noise.
    assert takeover_s <= LEASE_S + 2 * SCAN_S * 1.2 + 1.0
