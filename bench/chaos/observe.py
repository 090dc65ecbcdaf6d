"""What arrived where: Connect transcripts (inbound) and the WhatsApp outbox (outbound).

Reads the simulator's records (`GET /sandbox/contacts`, `GET /sandbox/whatsapp/outbox`)
and turns them into arrivals for the checker. Only the right side of each direction
counts: an inbound marker in a CUSTOMER text item of a Connect chat, an outbound marker in
the body of a WhatsApp text the bridge sent. A bridge note quoting an agent's text, or an
agent's own transcript item, is therefore never mistaken for a delivery.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from bench.chaos.checker import Arrival
from bench.chaos.markers import customer_of, direction, find_markers

# How the bridge says an inbound message arrived after later ones (text/render.py), written
# out again here: a shared constant would make the harness agree with a wrong bridge.
LATE_LINE_START = "⏱ sent "
LATE_LINE_END = ", arrived late:"


@dataclass(frozen=True, slots=True)
class Snapshot:
    contacts: list[dict[str, Any]]
    outbox: list[dict[str, Any]]


async def snapshot(sim: httpx.AsyncClient) -> Snapshot:
    contacts = await sim.get("/sandbox/contacts")
    contacts.raise_for_status()
    outbox = await sim.get("/sandbox/whatsapp/outbox")
    outbox.raise_for_status()
    return Snapshot(contacts.json()["contacts"], outbox.json()["messages"])


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _customer_texts(contact: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    return [
        (index, item)
        for index, item in enumerate(contact.get("transcript", []))
        if item.get("participantRole") == "CUSTOMER"
        and item.get("contentType") == "text/plain"
        and isinstance(item.get("content"), str)
    ]


def inbound_arrivals(contacts: Sequence[Mapping[str, Any]]) -> list[Arrival]:
    """Inbound markers in customers' Connect messages, ordered by item time.

    One customer's messages can span chats (a chat the bridge had to start again), so the
    order is the items' time first, then the chat and the item's place in its transcript.
    """
    arrivals: list[Arrival] = []
    for chat_index, contact in enumerate(contacts):
        for item_index, item in _customer_texts(contact):
            at = _epoch(item["time"])
            late = _said_late(item["content"])
            for place, marker in enumerate(find_markers(item["content"])):
                if direction(marker) == "in":
                    position = (at, float(chat_index), float(item_index), float(place))
                    arrivals.append(Arrival(marker, at, position, marked_late=marker in late))
    return arrivals


def _said_late(content: str) -> set[str]:
    """Markers on a line right after the bridge's "⏱ sent …, arrived late:" line."""
    lines = content.split("\n")
    return {
        marker
        for before, line in itertools.pairwise(lines)
        if before.startswith(LATE_LINE_START) and before.endswith(LATE_LINE_END)
        for marker in find_markers(line)
    }


def _text_body(entry: Mapping[str, Any]) -> str | None:
    message = entry.get("message")
    if not isinstance(message, Mapping) or message.get("type") != "text":
        return None
    text = message.get("text")
    body = text.get("body") if isinstance(text, Mapping) else None
    return body if isinstance(body, str) else None


def outbound_arrivals(outbox: Sequence[Mapping[str, Any]]) -> list[Arrival]:
    """Outbound markers in WhatsApp texts, in the order the simulator accepted the sends."""
    arrivals: list[Arrival] = []
    for index, entry in enumerate(outbox):
        body = _text_body(entry)
        if body is None:
            continue
        at = _epoch(entry["time"])
        for place, marker in enumerate(find_markers(body)):
            if direction(marker) == "out":
                arrivals.append(Arrival(marker, at, (float(index), float(place))))
    return arrivals


def _streaming(contact: Mapping[str, Any]) -> bool:
    streams = contact.get("streaming") or []
    return any(isinstance(s, Mapping) and s.get("active") for s in streams)


def live_chats(contacts: Sequence[Mapping[str, Any]]) -> dict[int, str]:
    """Customer index → contact id of that customer's latest chat an agent can answer.

    A chat belongs to the customer whose inbound markers its transcript holds (the
    harness never relies on the attributes the bridge chose to set). It is answerable
    once it has not ended and its contact streaming is on: Connect streams nothing said
    before StartContactStreaming, and a real agent is routed the chat only after the
    bridge has set it up, while the simulator's agent could write at once.
    """
    latest: dict[int, tuple[str, str]] = {}
    for contact in contacts:
        if contact.get("endedAt") is not None or not _streaming(contact):
            continue
        owners = {
            customer_of(marker)
            for _, item in _customer_texts(contact)
            for marker in find_markers(item["content"])
            if direction(marker) == "in"
        }
        for owner in owners - {None}:
            assert owner is not None
            started = str(contact.get("startedAt", ""))
            if owner not in latest or started > latest[owner][0]:
                latest[owner] = (started, str(contact["contactId"]))
    return {owner: contact_id for owner, (_, contact_id) in latest.items()}
