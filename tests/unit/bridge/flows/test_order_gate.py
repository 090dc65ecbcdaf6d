"""`flows/order_gate.py`: Connect's transcript and the raw table tell the lane an earlier
agent message is still on its way.

Fakes of the adapters' two calls: the transcript answers the items Connect holds from the
asked start time on, as the Participant Service does, while its quota has calls to spare;
the raw table answers which agent items the router has written, and when; where timing
matters the quota is the real client-side `Limiter` on the fake clock. The last tests
run the gate under a real lane (`policy.lanes.AgentLanes`) on the fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import pytest
from prometheus_client import CollectorRegistry

from service.bridge.adapters.connect_chat import TranscriptPage
from service.bridge.events.connect import AgentItem
from service.bridge.events.transport import DONE, Outcome
from service.bridge.flows.order_gate import TranscriptOrderGate
from service.bridge.policy.lanes import AgentLanes, GateAnswer, LaneConfig
from service.bridge.policy.ratelimit import DEFAULT_RATES, Limiter
from tests.fakes.bridge import FakeChat, FakeSessions
from tests.support.clock import FakeClock
from tests.unit.bridge.flows.conftest import CUSTOMER_KEY, Records, at

if TYPE_CHECKING:
    from types_aiobotocore_connectparticipant.type_defs import ItemTypeDef

HORIZON_S = 120.0


@dataclass
class FakeTranscripts:
    items: list[dict[str, Any]] = field(default_factory=list)
    starts: list[str | None] = field(default_factory=list)
    error: Exception | None = None
    no_quota: bool = False
    # Calls the quota has left (None: as many as asked for).
    calls_left: int | None = None
    # The client-side quota itself, when a test needs its timing.
    limiter: Limiter | None = None

    def agent(self, item_id: str, seconds: float, *, kind: str = "MESSAGE") -> None:
        self.items.append(
            {"Id": item_id, "AbsoluteTime": at(seconds), "Type": kind, "ParticipantRole": "AGENT"}
        )

    async def transcript_if_quota(
        self, *, connection_token: str, start_time: str | None = None, within_s: float = 0.0
    ) -> TranscriptPage | None:
        assert connection_token
        if self.no_quota or self.calls_left == 0:
            return None
        if self.limiter is not None and not await self.limiter.acquire_within(within_s):
            return None
        if self.calls_left is not None:
            self.calls_left -= 1
        self.starts.append(start_time)
        if self.error is not None:
            raise self.error
        since = datetime.fromisoformat(start_time).timestamp() if start_time else 0.0
        found = [
            i for i in self.items if datetime.fromisoformat(i["AbsoluteTime"]).timestamp() >= since
        ]
        return TranscriptPage(items=cast("list[ItemTypeDef]", found), next_token=None)


@dataclass
class FakeStored:
    """The raw table's agent items: key → when the router wrote it (epoch ms)."""

    written: dict[str, int] = field(default_factory=dict)
    asked: list[list[str]] = field(default_factory=list)

    async def stored_agent_items(self, customer_key: str, keys: Any) -> dict[str, int]:
        assert customer_key == CUSTOMER_KEY
        self.asked.append(list(keys))
        return {k: self.written[k] for k in keys if k in self.written}


@pytest.fixture
def transcripts() -> FakeTranscripts:
    return FakeTranscripts()


@pytest.fixture
def stored() -> FakeStored:
    return FakeStored()


@pytest.fixture
def gate(
    sessions: FakeSessions,
    chat: FakeChat,
    transcripts: FakeTranscripts,
    stored: FakeStored,
    clock: FakeClock,
) -> TranscriptOrderGate:
    return TranscriptOrderGate(
        sessions=sessions,
        chat=chat,
        transcripts=transcripts,
        stored=stored,
        clock=clock,
        horizon_s=HORIZON_S,
    )


def _item(records: Records, item_id: str, seconds: float) -> AgentItem:
    payload = records.text(f"text of {item_id}", item_id=item_id, seconds=seconds)
    return AgentItem.of(customer_key=CUSTOMER_KEY, key=item_id, payload=payload, attributes={})


def _ms(clock: FakeClock, ago_s: float) -> int:
    return int((clock.time() - ago_s) * 1000)


async def test_an_earlier_message_the_router_has_not_written_is_on_its_way(
    gate, records, transcripts, stored
):
    for item_id, seconds in (("m1", 1), ("m2", 2)):
        transcripts.agent(item_id, seconds)

    assert await gate.check(_item(records, "m2", 2), []) is GateAnswer.MISSING
    assert stored.asked == [["m1"]]
    [start] = transcripts.starts
    assert start is not None
    assert datetime.fromisoformat(start) == datetime.fromisoformat(at(2 - HORIZON_S))
    # Once it reached the lane, nothing is missing.
    assert await gate.check(_item(records, "m2", 2), [_item(records, "m1", 1)]) is GateAnswer.CLEAR


async def test_one_written_long_ago_reached_the_lane_before_and_is_remembered(
    gate, records, transcripts, stored, clock
):
    transcripts.agent("m1", 1)  # handled by the shard's previous owner
    stored.written["m1"] = _ms(clock, 30)

    assert await gate.check(_item(records, "m2", 2), []) is GateAnswer.CLEAR
    assert await gate.check(_item(records, "m3", 3), []) is GateAnswer.CLEAR
    assert stored.asked == [["m1"]], "remembered: not looked up again"


async def test_one_written_a_moment_ago_may_be_right_behind_in_the_stream(
    gate, records, transcripts, stored, clock
):
    transcripts.agent("m1", 1)
    stored.written["m1"] = _ms(clock, 0.5)
    assert await gate.check(_item(records, "m2", 2), []) is GateAnswer.MISSING


async def test_what_this_worker_handled_is_never_looked_up(gate, records, transcripts, stored):
    transcripts.agent("m1", 1)
    gate.settled(_item(records, "m1", 1))
    assert await gate.check(_item(records, "m2", 2), []) is GateAnswer.CLEAR
    assert stored.asked == []


async def test_only_the_agents_messages_and_attachments_count(gate, records, transcripts):
    transcripts.agent("typing", 2, kind="EVENT")
    transcripts.items.append(
        {"Id": "c1", "AbsoluteTime": at(2), "Type": "MESSAGE", "ParticipantRole": "CUSTOMER"}
    )
    assert await gate.check(_item(records, "m3", 3), []) is GateAnswer.CLEAR
    transcripts.agent("file", 2, kind="ATTACHMENT")
    assert await gate.check(_item(records, "m3", 3), []) is GateAnswer.MISSING


async def test_later_messages_and_those_beyond_the_horizon_do_not_count(gate, records, transcripts):
    transcripts.agent("old", 3 - HORIZON_S - 1)
    transcripts.agent("later", 4)
    assert await gate.check(_item(records, "m3", 3), []) is GateAnswer.CLEAR


async def test_a_handoff_forgets_what_this_worker_knew(gate, records, transcripts, stored):
    transcripts.agent("m1", 1)
    gate.settled(_item(records, "m1", 1))
    gate.forget(CUSTOMER_KEY)
    assert await gate.check(_item(records, "m2", 2), []) is GateAnswer.MISSING


async def test_a_failing_transcript_raises_for_the_lane_to_decide(gate, records, transcripts):
    transcripts.error = ConnectionError("participant service unreachable")
    with pytest.raises(ConnectionError):
        await gate.check(_item(records, "m3", 3), [])


async def test_without_a_transcript_call_to_spare_the_message_goes_on_the_window(
    gate, records, transcripts, stored
):
    transcripts.agent("m1", 1)
    transcripts.no_quota = True
    assert await gate.check(_item(records, "m2", 2), []) is GateAnswer.UNCHECKED
    assert stored.asked == []


async def test_one_page_answers_for_every_item_it_shows(gate, records, transcripts, stored):
    # One burst of replies: the page asked for its first shows them all, and everything
    # the agent wrote before each of them.
    for item_id, seconds in (("m1", 1), ("m2", 2), ("m3", 3)):
        transcripts.agent(item_id, seconds)
    burst = [_item(records, key, seconds) for key, seconds in (("m1", 1), ("m2", 2), ("m3", 3))]

    for position, item in enumerate(burst):
        assert await gate.check(item, burst[position + 1 :]) is GateAnswer.CLEAR
        gate.settled(item)

    assert len(transcripts.starts) == 1
    assert stored.asked == []


async def test_a_held_head_stays_held_while_the_quota_is_spent(gate, records, transcripts, stored):
    # The page that showed the head still knows what came before it: no second call is
    # needed to keep holding it, so a spent quota cannot let it overtake.
    for item_id, seconds in (("m1", 1), ("m2", 2), ("m3", 3)):
        transcripts.agent(item_id, seconds)
    transcripts.calls_left = 1
    head, later = _item(records, "m2", 2), _item(records, "m3", 3)

    assert await gate.check(head, [later]) is GateAnswer.MISSING
    assert transcripts.calls_left == 0
    assert await gate.check(head, [later]) is GateAnswer.MISSING, "m1 is still on its way"


async def test_an_item_the_page_does_not_show_is_asked_about_anew(gate, records, transcripts):
    transcripts.agent("m1", 1)
    assert await gate.check(_item(records, "m1", 1), []) is GateAnswer.CLEAR
    transcripts.agent("m2", 2)  # written after that page was read
    transcripts.agent("m3", 3)

    assert await gate.check(_item(records, "m3", 3), []) is GateAnswer.MISSING
    assert len(transcripts.starts) == 2


async def test_a_handoff_forgets_the_page_too(gate, records, transcripts):
    transcripts.agent("m1", 1)
    assert await gate.check(_item(records, "m1", 1), []) is GateAnswer.CLEAR
    gate.forget(CUSTOMER_KEY)
    assert await gate.check(_item(records, "m1", 1), []) is GateAnswer.CLEAR
    assert len(transcripts.starts) == 2


# ---------------------------------------------------------------- under a real lane


@dataclass
class _Record:
    shard_key: str = "s1"
    shard_id: str = "shardId-s1"
    sequence_number: str = "1"
    new_image: dict[str, Any] = field(default_factory=dict)


class _Ack:
    def delivered(self) -> None:
        pass

    async def park(self, reason: str) -> None:
        raise AssertionError(f"parked: {reason}")


@contextlib.asynccontextmanager
async def _lanes(gate: TranscriptOrderGate, clock: FakeClock) -> AsyncIterator[_Lanes]:
    """A real `AgentLanes` over the gate, sending into a list."""
    sent: list[str] = []

    async def handle(item: AgentItem) -> Outcome:
        sent.append(item.key)
        return DONE

    lanes = AgentLanes[AgentItem](
        handle=handle,
        registry=CollectorRegistry(),
        config=LaneConfig(reorder_window_s=0.5, max_gap_wait_s=20.0, gap_poll_s=0.5),
        gate=gate,
        clock=clock,
    )
    running = asyncio.create_task(lanes.run(asyncio.Event()))
    await lanes.running.wait()
    try:
        yield _Lanes(lanes, sent)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


@dataclass
class _Lanes:
    lanes: AgentLanes[AgentItem]
    sent: list[str]

    async def add(self, records: Records, key: str, seconds: float) -> None:
        await self.lanes.add(_Record(), _Ack(), _item(records, key, seconds))


async def _r1_arrives_late(
    lanes: _Lanes, records: Records, stored: FakeStored, clock: FakeClock
) -> None:
    """r2 and r3 wait through the gate's polls; then the slow router writes r1."""
    for _ in range(6):  # three seconds: the window, then the gate's polls
        await clock.advance(0.5)
    assert lanes.sent == [], "r1 is still on its way: r2 must not go"
    stored.written["r1"] = int(clock.time() * 1000)
    await lanes.add(records, "r1", 1)
    for _ in range(4):
        await clock.advance(0.5)
    assert lanes.sent == ["r1", "r2", "r3"]


async def test_a_reply_that_overtook_a_slower_one_waits_for_it_with_the_quota_spent(
    gate, records, transcripts, stored, clock
):
    """Campaign b with three workers, in small: the agent writes r1 r2 r3; r2 and r3 reach
    the owner's lane through a quick task while r1 is still in a slow one's router, and the
    GetTranscript quota has one call left. The lane must still send r1 first."""
    for item_id, seconds in (("r1", 1), ("r2", 2), ("r3", 3)):
        transcripts.agent(item_id, seconds)
    transcripts.calls_left = 1
    async with _lanes(gate, clock) as lanes:
        await lanes.add(records, "r2", 2)
        await lanes.add(records, "r3", 3)
        await _r1_arrives_late(lanes, records, stored, clock)
    assert transcripts.calls_left == 0


async def test_a_backlog_after_an_outage_waits_for_the_quota_rather_than_going_unchecked(
    gate, records, transcripts, stored, clock
):
    """Campaign d with three workers, in small: after a 30 s AWS outage the backlog of many
    chats' replies reaches the owner at once and spends the GetTranscript burst; this
    chat's r2 and r3 arrive while r1 is still in a slow router. A call comes back within
    the gate's wait, so the gate still asks, and r1 goes first."""
    for item_id, seconds in (("r1", 1), ("r2", 2), ("r3", 3)):
        transcripts.agent(item_id, seconds)
    limiter = transcripts.limiter = Limiter(DEFAULT_RATES["GetTranscript"], clock=clock)
    async with _lanes(gate, clock) as lanes:
        while await limiter.acquire_within(0.0):
            pass  # the other chats' lanes spend the burst just before this one's arrive
        await lanes.add(records, "r2", 2)
        await lanes.add(records, "r3", 3)
        await _r1_arrives_late(lanes, records, stored, clock)
    assert transcripts.starts, "the gate waited for a call and asked"


async def test_the_gate_does_not_queue_behind_a_quota_that_cannot_keep_up(
    gate, records, transcripts, stored, clock
):
    transcripts.agent("m1", 1)
    limiter = transcripts.limiter = Limiter(DEFAULT_RATES["GetTranscript"], clock=clock)
    while await limiter.acquire_within(0.0):
        pass
    # Lanes already queued for 3 s worth of calls: this one would wait past the gate's 2 s.
    waiting = [asyncio.create_task(limiter.acquire()) for _ in range(24)]
    await asyncio.sleep(0)
    started = clock.monotonic()
    assert await gate.check(_item(records, "m2", 2), []) is GateAnswer.UNCHECKED
    assert clock.monotonic() == started, "went on the window at once"
    assert transcripts.starts == []
    for task in waiting:
        task.cancel()
