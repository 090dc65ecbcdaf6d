"""SIGKILL of the bridge between an attachment's upload and its completion, then a restart:
the agent gets the file once, not twice, not never.

Real processes (`python -m service run`), the embedded AWS and the simulator, over HTTP.
CompleteAttachmentUpload is made to fail until the worker is killed, so it is killed with
the file started and uploaded but not completed; the next worker replays the burst from
the stream checkpoint with the ledger's tokens.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from tests.e2e.conftest import Sandbox, text
from tests.e2e.test_failover import LEASE_S, SCAN_S, Worker
from tests.e2e.test_inbound_media import upload
from tests.support.bridge import TOKEN
from tests.support.media import fixture
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow


def _env(sim: str, moto_url: str, resources: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "SANDBOX_"))}
    return env | {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_CONNECT": sim,
        "AWS_ENDPOINT_URL_CONNECTPARTICIPANT": sim,
        "AWS_ENDPOINT_URL_SOCIALMESSAGING": sim,
        "AWS_ENDPOINT_URL_TRANSCRIBE": sim,
        "BRIDGE_NAME_PREFIX": "test",
        "BRIDGE_ADMIN_TOKEN": TOKEN,
        "BRIDGE_OUTBOUND_TOPIC_ARN": resources.outbound_topic_arn,
        "BRIDGE_LOG_FORMAT": "json",
        "BRIDGE_BUFFER_QUIET_S": "1",
        "BRIDGE_BUFFER_MAX_WAIT_S": "5",
        "BRIDGE_STREAM_LEASE_DURATION_S": str(LEASE_S),
        "BRIDGE_STREAM_SCAN_INTERVAL_S": str(SCAN_S),
        "BRIDGE_DRAIN_TIMEOUT_S": "5",
    }


async def _attachments(world: Sandbox) -> list[dict[str, Any]]:
    found = []
    for contact in await world.contacts():
        listed = await world.http.get(f"/sandbox/contacts/{contact['contactId']}/attachments")
        found += listed.json()["attachments"]
    return found


@pytest.mark.timeout(180)
async def test_sigkill_between_upload_and_complete_gives_one_attachment(
    sim, resources, moto_url, tmp_path, world: Sandbox
):
    wa = "5215511119999"
    media = await upload(world, wa, "invoice.pdf", "application/pdf")
    (
        await world.http.post(
            "/sandbox/faults",
            json={
                "operation": "CompleteAttachmentUpload",
                "error": "InternalServerException",
                "count": 10_000,
            },
        )
    ).raise_for_status()
    env = _env(sim, moto_url, resources)
    first = Worker("worker-a", env, tmp_path)
    second: Worker | None = None
    try:
        await eventually(first.ready, timeout_s=60)
        await world.send(
            wa,
            text("my invoice"),
            {"type": "document", "document": {"id": media, "filename": "bill.pdf"}},
            text("after it"),
        )

        async def uploaded_not_completed() -> bool:
            found = await _attachments(world)
            return bool(found) and all(a["uploaded"] and a["status"] != "APPROVED" for a in found)

        await eventually(uploaded_not_completed, timeout_s=60)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
        (await world.http.post("/sandbox/faults", json={"action": "clear"})).raise_for_status()

        second = Worker("worker-b", env, tmp_path)
        await eventually(second.ready, timeout_s=60)

        async def delivered() -> list[str] | None:
            items = [
                item
                for contact in await world.contacts()
                for item in contact["transcript"]
                if item["participantRole"] == "CUSTOMER"
                and item["type"] in {"MESSAGE", "ATTACHMENT"}
            ]
            shown = [
                i["content"] if i["type"] == "MESSAGE" else f"file:{i['attachments'][0]['name']}"
                for i in items
            ]
            return shown if "after it" in shown else None

        shown = await eventually(delivered, timeout_s=90)
    finally:
        await first.close()
        if second is not None:
            await second.close()
    assert shown == ["my invoice\n[Document: bill.pdf]", "file:bill.pdf", "after it"]
    [attachment] = await _attachments(world)
    assert attachment["status"] == "APPROVED"
    data = await world.http.get(attachment["downloadPath"])
    assert data.content == fixture("invoice.pdf")
