"""Realistic traffic through the simulator's sandbox API, every message with a marker.

Customers type in bursts: 2-4 texts with sub-second gaps (well inside the bridge's quiet
window, so each burst is one Connect message), then a pause longer than the quiet window.
Agents answer in rounds: at planned moments of the run, the agent of each chat sends a
few replies back to back (the case that reorders with several workers). Each message is
recorded with its sender's order and the moment the sandbox accepted it.

A send the sandbox refused (4xx) was not sent. A send whose outcome is unknown (5xx,
timeout, broken connection: the simulator may have published it) is recorded as
uncertain: never counted lost, still checked if it arrives.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from bench.chaos.checker import Sent
from bench.chaos.markers import inbound_marker, outbound_marker
from bench.chaos.observe import live_chats

_WORDS = ("Hello", "I need help", "with my order", "P12345", "it never arrived", "thanks", "?")
_CHAT_POLL_S = 1.0


@dataclass(frozen=True, slots=True)
class TrafficPlan:
    customers: int
    quiet_s: float
    # When agent rounds start, in seconds from the start of the load (each chat jittered).
    agent_rounds_at_s: tuple[float, ...]
    agent_replies_per_round: int
    agent_jitter_s: float = 2.0
    burst_sizes: tuple[int, int] = (2, 4)
    gap_s: tuple[float, float] = (0.2, 0.9)
    # Pause between bursts on top of the quiet window, so bursts stay separate.
    pause_extra_s: tuple[float, float] = (1.5, 4.0)
    seed: int = 7


@dataclass(slots=True)
class Ledger:
    sent: list[Sent] = field(default_factory=list)
    # Sends that failed, by kind ("in 502", "out timeout", "out no chat", ...).
    errors: Counter[str] = field(default_factory=Counter)


def wa_id(customer: int) -> str:
    return f"52188{customer:08d}"


class Traffic:
    def __init__(self, sim: httpx.AsyncClient, plan: TrafficPlan, ledger: Ledger) -> None:
        self._sim = sim
        self._plan = plan
        self._ledger = ledger
        self._rng = random.Random(plan.seed)
        self.chats: dict[int, str] = {}
        # Notified after every poll of the chats, and when the load stops.
        self._chats_polled = asyncio.Condition()

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set (a burst or round already started is finished)."""
        started = time.monotonic()
        poller = asyncio.create_task(self._poll_chats(stop))
        try:
            async with asyncio.TaskGroup() as tasks:
                for index in range(self._plan.customers):
                    rng = random.Random(self._rng.random())
                    tasks.create_task(self._customer(index, stop, rng))
                    tasks.create_task(self._agent(index, started, stop, rng))
        finally:
            poller.cancel()

    # ------------------------------------------------------------ customers

    async def _customer(self, index: int, stop: asyncio.Event, rng: random.Random) -> None:
        plan = self._plan
        number = 0
        await _sleep_unless(stop, rng.uniform(0, 2.0))
        while not stop.is_set():
            for position in range(rng.randint(*plan.burst_sizes)):
                if position:
                    await asyncio.sleep(rng.uniform(*plan.gap_s))
                marker = inbound_marker(index, number)
                body = {
                    "type": "text",
                    "text": {"body": f"{marker} {rng.choice(_WORDS)}"},
                    "profile_name": f"Chaos Customer {index}",
                }
                await self._send(
                    f"/sandbox/customers/{wa_id(index)}/messages",
                    body,
                    Sent(marker, f"in:{index}", number, at=0.0),
                )
                number += 1
            await _sleep_unless(stop, plan.quiet_s + rng.uniform(*plan.pause_extra_s))

    # ------------------------------------------------------------ agents

    async def _agent(
        self, index: int, started: float, stop: asyncio.Event, rng: random.Random
    ) -> None:
        plan = self._plan
        number = 0
        for offset in plan.agent_rounds_at_s:
            at = started + offset + rng.uniform(-plan.agent_jitter_s, plan.agent_jitter_s)
            await _sleep_unless(stop, at - time.monotonic())
            contact = await self._chat_of(index, stop)
            if contact is None:
                self._ledger.errors["out round skipped: no chat yet"] += 1
                continue
            for _ in range(plan.agent_replies_per_round):
                marker = outbound_marker(index, number)
                body = {"text": f"{marker} reply {number + 1} from your agent"}
                await self._send(
                    f"/sandbox/contacts/{contact}/agent/messages",
                    body,
                    Sent(marker, f"out:{contact}", number, at=0.0),
                )
                number += 1

    async def _chat_of(self, index: int, stop: asyncio.Event) -> str | None:
        async with self._chats_polled:
            await self._chats_polled.wait_for(lambda: index in self.chats or stop.is_set())
        return self.chats.get(index)

    async def _poll_chats(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                response = await self._sim.get("/sandbox/contacts")
                response.raise_for_status()
                self.chats = live_chats(response.json()["contacts"])
            except httpx.HTTPError:
                pass  # the next poll tries again; agents wait for a chat meanwhile
            async with self._chats_polled:
                self._chats_polled.notify_all()
            await _sleep_unless(stop, _CHAT_POLL_S)
        async with self._chats_polled:
            self._chats_polled.notify_all()

    # ------------------------------------------------------------ one send

    async def _send(self, path: str, body: Any, message: Sent) -> None:
        side = message.stream.partition(":")[0]
        try:
            response = await self._sim.post(path, json=body)
        except httpx.TransportError as exc:
            self._record(message, certain=False)
            self._ledger.errors[f"{side} {type(exc).__name__}"] += 1
            return
        if response.status_code >= 500:
            # The simulator may have published it before failing (a timed-out SNS publish).
            self._record(message, certain=False)
            self._ledger.errors[f"{side} {response.status_code}"] += 1
        elif response.status_code >= 400:
            self._ledger.errors[f"{side} {response.status_code}"] += 1  # refused: not sent
        else:
            self._record(message, certain=True)

    def _record(self, message: Sent, *, certain: bool) -> None:
        self._ledger.sent.append(replace(message, at=time.time(), certain=certain))


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        pass
