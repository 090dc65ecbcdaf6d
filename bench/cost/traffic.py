"""Customers who burst and agents who reply, through the simulator, and what arrived.

A customer's burst is 2-5 short texts typed 0.3-1.5 s apart (well inside the quiet
window); customers start spread over a few seconds, as a contact centre's morning does.
Every text carries a marker (`q<run>c<customer>b<burst>m<message>`), so what arrived in
Connect and in the WhatsApp outbox is found by marker, whatever the bridge wrapped around it.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

_MARKER = re.compile(r"\bq\d+c\d+b\d+m\d+\b")
_REPLY = re.compile(r"\bq\d+a\d+n\d+\b")


def wa_id(customer: int) -> str:
    return f"4477{customer:08d}"


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@dataclass(slots=True)
class Burst:
    customer: int
    markers: list[str]
    sent_at: list[float] = field(default_factory=list)  # epoch, once the simulator published


@dataclass(slots=True)
class Delivered:
    """Where a burst's markers arrived: the Connect items (time) that carried them."""

    items: int  # distinct Connect customer messages that carried the burst
    last_at: float  # when the item with the burst's last marker was written
    contact_id: str


async def send_burst(
    sim: httpx.AsyncClient, burst: Burst, rng: random.Random, *, start_in_s: float
) -> None:
    await asyncio.sleep(start_in_s)
    for position, marker in enumerate(burst.markers):
        if position:
            await asyncio.sleep(rng.uniform(0.3, 1.5))
        response = await sim.post(
            f"/sandbox/customers/{wa_id(burst.customer)}/messages",
            json={"type": "text", "text": {"body": f"{marker} hello"}},
        )
        response.raise_for_status()
        burst.sent_at.append(time.time())


def bursts_for(
    run: int, customers: Iterable[int], burst_number: int, rng: random.Random
) -> list[Burst]:
    return [
        Burst(c, [f"q{run}c{c}b{burst_number}m{m}" for m in range(rng.randint(2, 5))])
        for c in customers
    ]


async def send_bursts(
    sim: httpx.AsyncClient, bursts: Sequence[Burst], rng: random.Random, *, spread_s: float
) -> None:
    await asyncio.gather(
        *(send_burst(sim, b, rng, start_in_s=rng.uniform(0, spread_s)) for b in bursts)
    )


def delivered(contacts: Sequence[Mapping[str, Any]]) -> dict[str, tuple[float, str, int]]:
    """Marker → (item time, contact id, item number) of the first customer item carrying it."""
    found: dict[str, tuple[float, str, int]] = {}
    number = 0
    for contact in contacts:
        for item in contact.get("transcript", []):
            if item.get("participantRole") != "CUSTOMER" or not isinstance(
                item.get("content"), str
            ):
                continue
            number += 1
            for marker in _MARKER.findall(item["content"]):
                found.setdefault(marker, (_epoch(item["time"]), contact["contactId"], number))
    return found


async def wait_delivered(
    sim: httpx.AsyncClient, bursts: Sequence[Burst], *, timeout_s: float
) -> dict[int, Delivered]:
    """Each burst's delivery, once every marker arrived (a TimeoutError names how many not)."""
    wanted = {m for b in bursts for m in b.markers}
    deadline = time.monotonic() + timeout_s
    while True:
        found = delivered((await sim.get("/sandbox/contacts")).json()["contacts"])
        missing = wanted - found.keys()
        if not missing:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(missing)} of {len(wanted)} messages never reached Connect")
        await asyncio.sleep(1.0)
    result: dict[int, Delivered] = {}
    for index, burst in enumerate(bursts):
        places = [found[m] for m in burst.markers]
        result[index] = Delivered(
            items=len({number for _, _, number in places}),
            last_at=found[burst.markers[-1]][0],
            contact_id=places[-1][1],
        )
    return result


def tumbling_window(bursts: Sequence[Burst], window_s: float) -> tuple[list[int], list[float]]:
    """The old sample on the same send times: windows of `window_s` aligned on the clock.

    Per burst: Connect messages (windows it spans) and the wait from its last message to
    the end of that message's window."""
    pieces: list[int] = []
    waits: list[float] = []
    for burst in bursts:
        windows = {int(at // window_s) for at in burst.sent_at}
        pieces.append(len(windows))
        last = burst.sent_at[-1]
        waits.append((int(last // window_s) + 1) * window_s - last)
    return pieces, waits


# ---------------------------------------------------------------- agents


@dataclass(slots=True)
class Reply:
    marker: str
    written_at: float  # Connect's AbsoluteTime of the agent's item


async def agent_replies(
    sim: httpx.AsyncClient,
    contact_id: str,
    *,
    run: int,
    agent: int,
    count: int,
    gap_s: float = 0.0,
    start_s: float = 0.0,
) -> list[Reply]:
    """An agent writes `count` replies in a row: each as soon as the last was accepted, or
    `gap_s` after it (an agent typing), the first `start_s` from now."""
    replies: list[Reply] = []
    await asyncio.sleep(start_s)
    for n in range(count):
        if n and gap_s:
            await asyncio.sleep(gap_s)
        marker = f"q{run}a{agent}n{n}"
        response = await sim.post(
            f"/sandbox/contacts/{contact_id}/agent/messages", json={"text": f"{marker} ok"}
        )
        response.raise_for_status()
        replies.append(Reply(marker, _epoch(response.json()["time"])))
    return replies


def sent_to_whatsapp(outbox: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Reply marker → when the simulator accepted the first WhatsApp send carrying it."""
    sent: dict[str, float] = {}
    for entry in outbox:
        message = entry.get("message") or {}
        body = (message.get("text") or {}).get("body") if isinstance(message, dict) else None
        if isinstance(body, str):
            for marker in _REPLY.findall(body):
                sent.setdefault(marker, _epoch(entry["time"]))
    return sent


async def wait_sent(
    sim: httpx.AsyncClient, replies: Sequence[Reply], *, timeout_s: float
) -> dict[str, float]:
    wanted = {r.marker for r in replies}
    deadline = time.monotonic() + timeout_s
    while True:
        sent = sent_to_whatsapp((await sim.get("/sandbox/whatsapp/outbox")).json()["messages"])
        missing = wanted - sent.keys()
        if not missing:
            return sent
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(missing)} of {len(wanted)} replies never reached WhatsApp")
        await asyncio.sleep(0.5)
