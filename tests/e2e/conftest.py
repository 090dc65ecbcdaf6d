"""End-to-end fixtures: the real bridge against the embedded AWS and the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from service.settings import Settings
from tests.support.bridge import TOKEN, RunningBridge

# Scaled-down windows keep the suite fast; the behaviour is the same as with 5 s / 20 s.
QUIET_S = 1.5
MAX_WAIT_S = 6.0


def bridge_settings(resources, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "name_prefix": "test",
        "admin_token": TOKEN,
        "admin_port": 0,
        "outbound_topic_arn": resources.outbound_topic_arn,
        "task_id": "e2e",
        "buffer_quiet_s": QUIET_S,
        "buffer_max_wait_s": MAX_WAIT_S,
        "drain_timeout_s": 8.0,
        # A short poll lets each test's bridge stop at once (SIGTERM lets the poll return).
        "sqs_wait_time_s": 1,
        "stream_scan_interval_s": 1.0,
    }
    return Settings(**(values | overrides))


@pytest.fixture
async def bridge(sim, resources) -> AsyncIterator[httpx.AsyncClient]:
    async with RunningBridge(bridge_settings(resources)) as admin:
        yield admin


class Sandbox:
    """The sandbox API, as a test drives the two humans."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def send(self, wa_id: str, *messages: dict[str, Any], **options: Any) -> list[str]:
        body: Any = list(messages) if len(messages) != 1 or options else messages[0]
        if options:
            body = [m | options for m in messages]
        response = await self.http.post(f"/sandbox/customers/{wa_id}/messages", json=body)
        response.raise_for_status()
        ids: list[str] = response.json()["messageIds"]
        return ids

    async def contacts(self) -> list[dict[str, Any]]:
        response = await self.http.get("/sandbox/contacts")
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()["contacts"]
        return found

    async def customer_messages(self) -> list[tuple[str, str]]:
        """(contact id, content) of every customer text item, in transcript order."""
        return [
            (c["contactId"], item["content"])
            for c in await self.contacts()
            for item in c["transcript"]
            if item["participantRole"] == "CUSTOMER" and item["contentType"] == "text/plain"
        ]

    async def notes(self) -> list[tuple[str, str]]:
        """(contact id, content) of every message the bridge said in its own voice
        (CUSTOM_BOT "WhatsApp", DESIGN §6), in transcript order."""
        return [
            (c["contactId"], item["content"])
            for c in await self.contacts()
            for item in c["transcript"]
            if item["participantRole"] == "CUSTOM_BOT"
            and item["displayName"] == "WhatsApp"
            and item["type"] == "MESSAGE"
        ]

    async def outbox(self) -> list[dict[str, Any]]:
        response = await self.http.get("/sandbox/whatsapp/outbox")
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()["messages"]
        return found


@pytest.fixture
def world(sandbox: httpx.AsyncClient) -> Sandbox:
    return Sandbox(sandbox)


def text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body}}
