"""The admin routes the console reads: dead letters, errors, buffer refs, and the page itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter
from pydantic import SecretStr

from service.admin.app import create_admin_app
from service.admin.dead_letters import dead_letters_router
from service.admin.error_counts import errors_router
from service.admin.routes import worker_router
from service.errors import ThrottledError
from service.health import Health, Readiness

TOKEN = "console-test-token-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CUSTOMER = "200000000000002#5215512345678"


@dataclass
class Parked:
    message_id: str
    reason: str
    source: str = "inbound"
    redrivable: bool = True


@dataclass
class Result:
    redriven: list[str]
    not_redrivable: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)


class FakeDeadLetters:
    def __init__(self) -> None:
        self.purged: list[str] = []
        self.redriven: list[tuple[str, Any]] = []
        self.refuse_purge = False

    def queues(self) -> list[str]:
        return ["inbound", "outbound"]

    async def look(self, queue: str) -> tuple[list[Parked], bool]:
        return ([Parked("m-1", "still failing")] if queue == "inbound" else []), False

    async def redrive(self, queue: str, message_ids: Any) -> Result:
        self.redriven.append((queue, message_ids))
        return Result(redriven=list(message_ids or ["m-1"]))

    async def purge(self, queue: str) -> None:
        if self.refuse_purge:
            raise ThrottledError("one purge a minute")
        self.purged.append(queue)


class FakeBuffer:
    def __init__(self) -> None:
        self.flushed: list[str] = []

    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                "customer_key": CUSTOMER,
                "messages": 2,
                "age_s": 1.0,
                "quiet_s": 1.0,
                "in_flight": 0,
                "attempts": 0,
                "next_flush_in_s": 4.0,
            }
        ]

    async def flush_customer(self, customer_key: str) -> bool:
        self.flushed.append(customer_key)
        return True


class FakeShards:
    worker_id = "w-1"

    def held_shards(self) -> list[str]:
        return []

    def snapshot(self) -> list[Any]:
        return []


@pytest.fixture
def parts():
    registry = CollectorRegistry()
    errors = Counter(
        "bridge_aws_call_errors", "x", ["service", "operation", "code"], registry=registry
    )
    errors.labels("connect", "StartChatContact", "ThrottlingException").inc(3)
    Counter("bridge_sqs_parked", "x", ["queue", "cause"], registry=registry).labels(
        "inbound", "malformed"
    )  # zero: not listed
    return FakeDeadLetters(), FakeBuffer(), registry


@pytest.fixture
async def admin(parts):
    dead_letters, buffer, registry = parts
    app = create_admin_app(
        health=Health(),
        readiness=Readiness(timeout_s=1, interval_s=1),
        registry=registry,
        admin_token=SecretStr(TOKEN),
        status=dict,
        routers=[
            worker_router(buffer=buffer, stream=FakeShards()),
            dead_letters_router(dead_letters=dead_letters),
            errors_router(registry=registry),
        ],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
        yield client


async def test_the_page_is_served_without_the_token_and_loads_nothing_from_elsewhere(admin):
    page = await admin.get("/console")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert 'src="/console/static/console.js"' in page.text
    assert "http://" not in page.text
    assert "https://" not in page.text
    script = await admin.get("/console/static/console.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert (await admin.get("/console/static/../app.py")).status_code == 404
    assert (await admin.get("/console/static/nothing.js")).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/dead-letters"),
        ("POST", "/admin/dead-letters/inbound/redrive"),
        ("POST", "/admin/dead-letters/inbound/purge"),
        ("GET", "/admin/errors"),
        ("POST", "/admin/buffers/refs/x/flush"),
    ],
)
async def test_every_console_route_needs_the_token(admin, method, path):
    assert (await admin.request(method, path, json={})).status_code == 401


async def test_dead_letters_are_listed_redriven_and_purged_with_confirmation(admin, parts):
    dead_letters, _, _ = parts
    listed = (await admin.get("/admin/dead-letters", headers=AUTH)).json()
    assert [q["queue"] for q in listed["queues"]] == ["inbound", "outbound"]
    assert listed["queues"][0]["messages"][0]["message_id"] == "m-1"

    one = await admin.post(
        "/admin/dead-letters/inbound/redrive", json={"message_ids": ["m-1"]}, headers=AUTH
    )
    every = await admin.post("/admin/dead-letters/inbound/redrive", json={}, headers=AUTH)
    assert one.json()["redriven"] == ["m-1"]
    assert dead_letters.redriven == [("inbound", ["m-1"]), ("inbound", None)]
    assert every.status_code == 200

    unconfirmed = await admin.post(
        "/admin/dead-letters/inbound/purge", json={"confirm": "outbound"}, headers=AUTH
    )
    assert unconfirmed.status_code == 400
    assert dead_letters.purged == []
    confirmed = await admin.post(
        "/admin/dead-letters/inbound/purge", json={"confirm": "inbound"}, headers=AUTH
    )
    assert confirmed.json() == {"purged": True}
    assert dead_letters.purged == ["inbound"]
    dead_letters.refuse_purge = True
    refused = await admin.post(
        "/admin/dead-letters/inbound/purge", json={"confirm": "inbound"}, headers=AUTH
    )
    assert refused.status_code == 409
    unknown = await admin.post("/admin/dead-letters/nope/redrive", json={}, headers=AUTH)
    assert unknown.status_code == 404


async def test_buffered_customers_are_flushed_by_an_opaque_ref(admin, parts):
    _, buffer, _ = parts
    (row,) = (await admin.get("/admin/buffers", headers=AUTH)).json()["customers"]
    assert "5215512345678" not in str(row)
    assert row["customer_key"].endswith("5678")

    flushed = await admin.post(f"/admin/buffers/refs/{row['ref']}/flush", headers=AUTH)
    missing = await admin.post("/admin/buffers/refs/0000/flush", headers=AUTH)

    assert flushed.json() == {"flushed": True}
    assert buffer.flushed == [CUSTOMER]
    assert missing.status_code == 404


async def test_errors_are_the_non_zero_error_counters_by_code(admin):
    errors = (await admin.get("/admin/errors", headers=AUTH)).json()["errors"]
    assert errors == [
        {
            "metric": "bridge_aws_call_errors",
            "code": "ThrottlingException",
            "labels": {"service": "connect", "operation": "StartChatContact"},
            "count": 3,
        }
    ]
