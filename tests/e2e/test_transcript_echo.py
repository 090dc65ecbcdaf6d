"""Issue 11 item 4's option: with BRIDGE_TRANSCRIPT_ECHO the customer also receives the
words the agent read, once, after the agent's transcript; off by default."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Sandbox, bridge_settings
from tests.e2e.test_inbound_media import upload
from tests.support.bridge import RunningBridge
from tests.support.waiting import eventually

SAID = "hola quiero saber de mi pedido"


async def _echoes(world: Sandbox, wa: str) -> list[str]:
    return [
        m["message"]["text"]["body"]
        for m in await world.outbox()
        if m["type"] == "text" and m["recipient"].lstrip("+") == wa
    ]


async def _transcribed(world: Sandbox) -> str:
    async def line() -> str | None:
        notes = [content for _, content in await world.notes() if content.startswith("🔊")]
        return notes[0] if notes else None

    found: str = await eventually(line, timeout_s=45)
    return found


async def test_the_customer_gets_the_transcript_back_once_when_asked_for(
    sim, resources, world: Sandbox
):
    wa = "5215511110009"
    voice = await upload(world, wa, "voice_en.ogg", "audio/ogg", transcript=SAID, language="es-US")
    async with RunningBridge(bridge_settings(resources, transcript_echo=True)):
        await world.send(wa, {"type": "audio", "audio": {"id": voice, "voice": True}})
        await _transcribed(world)

        async def echoed() -> list[str] | None:
            found = await _echoes(world, wa)
            return found or None

        assert await eventually(echoed) == [f"🔊 “{SAID}”"]


async def test_by_default_nothing_is_echoed(sim, resources, world: Sandbox):
    wa = "5215511110010"
    voice = await upload(world, wa, "voice_en.ogg", "audio/ogg", transcript=SAID, language="es-US")
    async with RunningBridge(bridge_settings(resources)):
        await world.send(wa, {"type": "audio", "audio": {"id": voice, "voice": True}})
        await _transcribed(world)
        sent: list[Any] = await _echoes(world, wa)
    assert sent == []
