"""The playground's server side: the page and its files, the change stream, the state."""

from __future__ import annotations

import asyncio

import httpx

from service.local.sim.changes import Changes

WA_ID = "5215512345678"


async def test_the_page_and_its_files_are_served_without_anything_from_elsewhere(sandbox):
    page = await sandbox.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # Nothing may be loaded from another origin (the machine may have no internet).
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "http://" not in page.text
    assert "https://" not in page.text
    for name, kind in (("playground.js", "text/javascript"), ("playground.css", "text/css")):
        served = await sandbox.get(f"/sandbox/static/{name}")
        assert served.status_code == 200
        assert served.headers["content-type"].startswith(kind)
    assert (await sandbox.get("/sandbox/static/app.py")).status_code == 404


async def test_the_event_stream_tells_of_each_change(sim: str, resources):
    async with (
        httpx.AsyncClient(base_url=sim, timeout=10) as client,
        client.stream("GET", "/sandbox/events") as events,
    ):
        assert events.headers["content-type"].startswith("text/event-stream")
        lines = events.aiter_lines()

        async def next_version() -> str:
            async for line in lines:
                if line.startswith("data: "):
                    return line
            raise AssertionError("the stream ended")

        first = await asyncio.wait_for(next_version(), 5)
        sent = await client.post(
            f"/sandbox/customers/{WA_ID}/messages",
            json={"type": "text", "text": {"body": "hello"}},
        )
        sent.raise_for_status()
        second = await asyncio.wait_for(next_version(), 5)
    assert first != second


async def test_the_state_shows_what_the_phone_sent(sandbox, resources):
    await sandbox.post(
        f"/sandbox/customers/{WA_ID}/messages",
        json={"type": "text", "text": {"body": "hello"}, "profile_name": "Ana"},
    )

    state = (await sandbox.get("/sandbox/playground/state")).json()

    assert [c["id"] for c in state["customers"]] == [WA_ID]
    assert state["customers"][0]["profileName"] == "Ana"
    (sent,) = state["inbound"]
    assert sent["message"]["text"]["body"] == "hello"
    assert state["businessNumbers"]


async def test_without_workers_the_buffers_say_they_are_unavailable(sandbox):
    answer = (await sandbox.get("/sandbox/bridge/buffers")).json()
    assert answer == {"available": False, "customers": []}


async def test_a_listener_wakes_on_a_change_and_not_before():
    changes = Changes()
    assert await changes.after(0, timeout_s=0.01) == 0  # nothing changed: as it was

    waiting = asyncio.create_task(changes.after(0, timeout_s=5))
    await asyncio.sleep(0)
    assert not waiting.done()
    changes.bump()
    assert await waiting == 1
    assert await changes.after(0, timeout_s=5) == 1  # already different: at once
