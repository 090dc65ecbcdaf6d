"""`Conversations`: the stream's record handler, one customer's two directions.

Why the real `CustomerBuffer` and `AgentLanes` rather than recording fakes: `Conversations`
is a few lines of glue whose correctness is entirely in what the two components do with
what it hands them (a burst waits for the customer's pause, an agent item only for its
reorder window; `flush_*` return once everything is acknowledged; `drop_shard` lets go
without acknowledging). Recording fakes would only restate the glue's own calls. Both run
in memory on the one `FakeClock`, so nothing real waits; their edges are recorded
(`deliver` gets the bursts, `handle` the agent items), and the records are built by the
real raw-messages codec (`raw_item`, `agent_item`) and decoded by the real `decode_image`,
exactly as the raw-messages stream carries them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from service.bridge.adapters.raw_messages import agent_item, decode_image, decode_message, raw_item
from service.bridge.events.connect import AgentItem
from service.bridge.events.eum import parse_eum_event
from service.bridge.events.transport import DONE, Outcome, StreamItem
from service.bridge.events.whatsapp import InboundMessage
from service.bridge.policy.buffer import BufferConfig, CustomerBuffer
from service.bridge.policy.conversations import Conversations
from service.bridge.policy.lanes import AgentLanes, LaneConfig
from tests.support.clock import WALL_START, FakeClock, settle
from tests.unit.bridge.conftest import BSUID, PHONE_NUMBER_ID, ConnectFactory, EumFactory

QUIET = 5.0
WINDOW = 0.5
ANA = f"{PHONE_NUMBER_ID}#{BSUID}"
BEA_WA_ID = "5215500000000"
BEA_BSUID = "MX.999"
BEA = f"{PHONE_NUMBER_ID}#{BEA_BSUID}"

DELIVERED = "delivered"
PARKED = "parked"


def decode(record: StreamItem) -> InboundMessage | AgentItem:
    """The production decoder (`service.app`): the record's image, by the raw codec."""
    return decode_image(record.new_image)


def decode_customer_message(record: StreamItem) -> InboundMessage:
    return decode_message(record.new_image)


@dataclass(frozen=True)
class Record:
    """A raw-messages stream record (`StreamItem`)."""

    shard_key: str
    shard_id: str
    sequence_number: str
    new_image: dict[str, Any]


@dataclass
class FakeAck:
    """The bridge's `Acknowledgement`, keyed by what the record holds (message or item id)."""

    name: str
    acks: dict[str, tuple[str, str]]

    def delivered(self) -> None:
        assert self.name not in self.acks, f"{self.name} acknowledged twice"
        self.acks[self.name] = (DELIVERED, "")

    async def park(self, reason: str) -> None:
        assert self.name not in self.acks, f"{self.name} acknowledged twice"
        self.acks[self.name] = (PARKED, reason)


@dataclass
class Edges:
    """What reached the far side of the buffer and of the lanes."""

    bursts: list[list[str]] = field(default_factory=list)  # WhatsApp message ids per burst
    items: list[AgentItem] = field(default_factory=list)
    hold_bursts: asyncio.Event | None = None
    hold_items: asyncio.Event | None = None

    async def deliver(self, burst: Sequence[InboundMessage]) -> None:
        if self.hold_bursts is not None:
            await self.hold_bursts.wait()
        self.bursts.append([m.message_id for m in burst])

    async def handle(self, item: AgentItem) -> Outcome:
        if self.hold_items is not None:
            await self.hold_items.wait()
        self.items.append(item)
        return DONE

    @property
    def item_keys(self) -> list[str]:
        return [i.key for i in self.items]


@dataclass
class World:
    conversations: Conversations
    buffer: CustomerBuffer[InboundMessage]
    lanes: AgentLanes[AgentItem]
    clock: FakeClock
    edges: Edges
    eum: EumFactory
    connect: ConnectFactory
    registry: CollectorRegistry
    acks: dict[str, tuple[str, str]] = field(default_factory=dict)
    _seq: int = 0

    def record(self, image: dict[str, Any], shard: str) -> Record:
        self._seq += 1
        return Record(shard, f"shardId-{shard}", f"{self._seq:021d}", image)

    async def submit(self, name: str, image: dict[str, Any], *, shard: str = "s1") -> None:
        await self.conversations.submit(self.record(image, shard), FakeAck(name, self.acks))

    async def customer_says(
        self, message_id: str, text: str, *, bea: bool = False, shard: str = "s1"
    ) -> None:
        wire = self.eum.text(text, id_=message_id)
        contacts = None
        if bea:
            wire |= {"from": BEA_WA_ID, "from_user_id": BEA_BSUID}
            contacts = [{"profile": {"name": "Bea"}, "wa_id": BEA_WA_ID, "user_id": BEA_BSUID}]
        envelope = self.eum.envelope(self.eum.value(messages=[wire], contacts=contacts))
        (message,) = parse_eum_event(envelope).messages
        await self.submit(message_id, raw_item(message, received_at_ms=1), shard=shard)

    def agent_item(self, item_id: str, text: str, *, customer: str = ANA) -> AgentItem:
        body = self.connect.message(text) | {"Id": item_id}
        return AgentItem.of(
            customer_key=customer, key=item_id, payload=self.connect.sns(body), attributes={}
        )

    async def agent_says(
        self, item_id: str, text: str, *, customer: str = ANA, shard: str = "s1"
    ) -> None:
        item = self.agent_item(item_id, text, customer=customer)
        await self.submit(item_id, agent_item(item, received_at_ms=1), shard=shard)

    def settled(self, name: str) -> str | None:
        outcome = self.acks.get(name)
        return None if outcome is None else outcome[0]


async def without_time_passing(call: Awaitable[None]) -> None:
    """Await `call`, which must end with no time passing: a hang fails here, at once."""
    task = asyncio.ensure_future(call)
    try:
        await settle()
        assert task.done(), "still waiting: it should not need time to pass"
        await task
    finally:
        task.cancel()


@pytest.fixture(autouse=True)
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    with capture_logs() as captured:
        yield captured


Build = Callable[..., World]


@pytest.fixture
async def world(eum: EumFactory, connect: ConnectFactory) -> AsyncIterator[World]:
    async with _running(eum, connect, decode) as built:
        yield built


@contextlib.asynccontextmanager
async def _running(
    eum: EumFactory,
    connect: ConnectFactory,
    decoder: Callable[[StreamItem], InboundMessage | AgentItem],
) -> AsyncIterator[World]:
    clock = FakeClock()
    registry = CollectorRegistry()
    edges = Edges()
    buffer = CustomerBuffer[InboundMessage](
        decode=decode_customer_message,
        deliver=edges.deliver,
        registry=registry,
        config=BufferConfig(quiet_s=QUIET, max_wait_s=20.0),
        clock=clock,
        rng=random.Random(7),
    )
    lanes = AgentLanes[AgentItem](
        handle=edges.handle,
        registry=registry,
        config=LaneConfig(reorder_window_s=WINDOW),
        clock=clock,
        rng=random.Random(7),
    )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(buffer.run(stop)), asyncio.create_task(lanes.run(stop))]
    await buffer.running.wait()
    await lanes.running.wait()
    conversations = Conversations(
        decode=decoder, buffer=buffer, lanes=lanes, registry=registry, clock=clock
    )
    try:
        yield World(conversations, buffer, lanes, clock, edges, eum, connect, registry)
    finally:
        for gate in (edges.hold_bursts, edges.hold_items):
            if gate is not None:
                gate.set()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# ---------------------------------------------------------------- dispatch


async def test_customer_messages_go_to_the_buffer_and_agent_items_to_the_lanes(world):
    await world.customer_says("wamid.M1", "Hello")
    await world.agent_says("item-1", "Hi, I am Luis")

    assert [row["customer_key"] for row in world.buffer.snapshot()] == [ANA]
    assert [(row["customer_key"], row["items"]) for row in world.lanes.snapshot()] == [(ANA, 1)]

    await world.clock.advance(WINDOW)  # the agent item waits only its reorder window
    [item] = world.edges.items
    assert item == world.agent_item("item-1", "Hi, I am Luis")
    assert world.edges.bursts == [], "the customer's burst waits for their pause"
    assert world.acks == {"item-1": (DELIVERED, "")}

    await world.clock.advance(QUIET)
    assert world.edges.bursts == [["wamid.M1"]]
    assert world.settled("wamid.M1") == DELIVERED


async def test_how_long_each_took_to_reach_its_owner_is_measured_by_direction(world):
    published = datetime.fromisoformat("2026-03-01T10:15:30.123456789Z").timestamp()
    agent_wrote = datetime.fromisoformat("2026-03-01T10:16:02.511Z").timestamp()
    world.clock.set(published + 0.25 - WALL_START)  # EUM published it 0.25 s ago
    await world.customer_says("wamid.M1", "Hello")
    world.clock.set(agent_wrote + 0.75 - WALL_START)  # the agent wrote it 0.75 s ago
    await world.agent_says("item-1", "Hi, I am Luis")

    registry: CollectorRegistry = world.registry

    def lag(direction: str, sample: str) -> float | None:
        name = f"bridge_intake_lag_seconds_{sample}"
        return registry.get_sample_value(name, {"direction": direction})

    assert lag("inbound", "count") == 1
    assert lag("inbound", "sum") == pytest.approx(0.25, abs=1e-6)
    assert lag("outbound", "count") == 1
    assert lag("outbound", "sum") == pytest.approx(0.75, abs=1e-6)


def _explode(record: StreamItem) -> InboundMessage | AgentItem:
    raise KeyError(record.sequence_number)


@pytest.mark.parametrize(
    ("image", "decoder", "reason"),
    [
        pytest.param(
            {"customer": {"S": ANA}, "message_id": {"S": "wamid.X"}},
            decode,
            "undecodable: ValueError",
            id="no-message",
        ),
        pytest.param(
            {
                "customer": {"S": ANA},
                "message_id": {"S": "agent#item-9"},
                "kind": {"S": "agent"},
                "payload": {"S": "not json"},
                "attributes": {"S": "{}"},
            },
            decode,
            "undecodable: ValueError",
            id="agent-item-not-json",
        ),
        pytest.param(
            {"customer": {"S": ANA}}, _explode, "undecodable: KeyError", id="decoder-raises"
        ),
    ],
)
async def test_an_undecodable_record_is_parked_with_its_reason_and_goes_nowhere(
    eum, connect, logs, *, image, decoder, reason
):
    async with _running(eum, connect, decoder) as world:
        await world.submit("bad", image)
        await world.clock.advance(QUIET + WINDOW)

        assert world.acks == {"bad": (PARKED, reason)}
        assert world.buffer.snapshot() == []
        assert world.lanes.snapshot() == []
        assert world.edges.bursts == []
        assert world.edges.items == []
        assert [e["event"] for e in logs] == ["record_undecodable"]


# ---------------------------------------------------------------- the shard's life


async def _two_shards(world: World) -> None:
    """Ana on shard s1, Bea on s2, each with a message and an agent item waiting."""
    await world.customer_says("wamid.A1", "Hello")
    await world.agent_says("item-a1", "Hi Ana")
    await world.customer_says("wamid.B1", "Hola", bea=True, shard="s2")
    await world.agent_says("item-b1", "Hi Bea", customer=BEA, shard="s2")


async def test_flush_shard_reaches_the_buffer_and_the_lanes(world):
    await _two_shards(world)

    # Returns once both are acknowledged, with no time passing.
    await without_time_passing(world.conversations.flush_shard("s1"))

    assert world.clock.monotonic() == 1_000.0, "a handoff does not wait for time to pass"
    assert world.edges.bursts == [["wamid.A1"]]
    assert world.edges.item_keys == ["item-a1"]
    assert world.acks == {"wamid.A1": (DELIVERED, ""), "item-a1": (DELIVERED, "")}
    assert [row["customer_key"] for row in world.buffer.snapshot()] == [BEA]
    assert [row["customer_key"] for row in world.lanes.snapshot()] == [BEA]


async def test_drop_shard_reaches_the_buffer_and_the_lanes(world):
    await _two_shards(world)

    await world.conversations.drop_shard("s1")
    await world.clock.advance(QUIET)

    assert world.edges.bursts == [["wamid.B1"]], "s1's records are the next owner's now"
    assert world.edges.item_keys == ["item-b1"]
    assert world.acks == {"wamid.B1": (DELIVERED, ""), "item-b1": (DELIVERED, "")}


async def test_flush_all_reaches_the_buffer_and_the_lanes(world):
    await _two_shards(world)

    await without_time_passing(world.conversations.flush_all())

    assert world.clock.monotonic() == 1_000.0
    assert sorted(world.edges.bursts) == [["wamid.A1"], ["wamid.B1"]]
    assert sorted(world.edges.item_keys) == ["item-a1", "item-b1"]
    assert {world.settled(n) for n in ("wamid.A1", "wamid.B1", "item-a1", "item-b1")} == {DELIVERED}


async def test_a_flush_all_cut_short_by_the_drain_deadline_ends_at_once(world):
    await _two_shards(world)
    world.edges.hold_bursts = connect_hangs = asyncio.Event()
    world.edges.hold_items = whatsapp_hangs = asyncio.Event()
    flushing = asyncio.create_task(world.conversations.flush_all())
    await settle()

    flushing.cancel()  # the drain deadline
    await settle()

    try:
        assert flushing.done()
    finally:
        connect_hangs.set()
        whatsapp_hangs.set()
        with contextlib.suppress(asyncio.CancelledError):
            await flushing
