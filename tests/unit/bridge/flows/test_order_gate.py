"""`flows/order_gate.py`: Connect's transcript and the raw table tell the lane an earlier
agent message is still on its way.

Fakes of the adapters' two calls: the transcript answers the items Connect holds from the
asked start time on, as the Participant Service does; the raw table answers which agent
items the router has written, and when.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import pytest

from service.bridge.adapters.connect_chat import TranscriptPage
from service.bridge.events.connect import AgentItem
from service.bridge.flows.order_gate import TranscriptOrderGate
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

    def agent(self, item_id: str, seconds: float, *, kind: str = "MESSAGE") -> None:
        self.items.append(
            {"Id": item_id, "AbsoluteTime": at(seconds), "Type": kind, "ParticipantRole": "AGENT"}
        )

    async def transcript_if_quota(
        self, *, connection_token: str, start_time: str | None = None
    ) -> TranscriptPage | None:
        assert connection_token
        if self.no_quota:
            return None
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

    assert await gate.missing_before(_item(records, "m2", 2), [])
    assert stored.asked == [["m1"]]
    [start] = transcripts.starts
    assert start is not None
    assert datetime.fromisoformat(start) == datetime.fromisoformat(at(2 - HORIZON_S))
    # Once it reached the lane, nothing is missing.
    assert not await gate.missing_before(_item(records, "m2", 2), [_item(records, "m1", 1)])


async def test_one_written_long_ago_reached_the_lane_before_and_is_remembered(
    gate, records, transcripts, stored, clock
):
    transcripts.agent("m1", 1)  # handled by the shard's previous owner
    stored.written["m1"] = _ms(clock, 30)

    assert not await gate.missing_before(_item(records, "m2", 2), [])
    assert not await gate.missing_before(_item(records, "m3", 3), [])
    assert stored.asked == [["m1"]], "remembered: not looked up again"


async def test_one_written_a_moment_ago_may_be_right_behind_in_the_stream(
    gate, records, transcripts, stored, clock
):
    transcripts.agent("m1", 1)
    stored.written["m1"] = _ms(clock, 0.5)
    assert await gate.missing_before(_item(records, "m2", 2), [])


async def test_what_this_worker_handled_is_never_looked_up(gate, records, transcripts, stored):
    transcripts.agent("m1", 1)
    gate.settled(_item(records, "m1", 1))
    assert not await gate.missing_before(_item(records, "m2", 2), [])
    assert stored.asked == []


async def test_only_the_agents_messages_and_attachments_count(gate, records, transcripts):
    transcripts.agent("typing", 2, kind="EVENT")
    transcripts.items.append(
        {"Id": "c1", "AbsoluteTime": at(2), "Type": "MESSAGE", "ParticipantRole": "CUSTOMER"}
    )
    assert not await gate.missing_before(_item(records, "m3", 3), [])
    transcripts.agent("file", 2, kind="ATTACHMENT")
    assert await gate.missing_before(_item(records, "m3", 3), [])


async def test_later_messages_and_those_beyond_the_horizon_do_not_count(gate, records, transcripts):
    transcripts.agent("old", 3 - HORIZON_S - 1)
    transcripts.agent("later", 4)
    assert not await gate.missing_before(_item(records, "m3", 3), [])


async def test_a_handoff_forgets_what_this_worker_knew(gate, records, transcripts, stored):
    transcripts.agent("m1", 1)
    gate.settled(_item(records, "m1", 1))
    gate.forget(CUSTOMER_KEY)
    assert await gate.missing_before(_item(records, "m2", 2), [])


async def test_a_failing_transcript_raises_for_the_lane_to_decide(gate, records, transcripts):
    transcripts.error = ConnectionError("participant service unreachable")
    with pytest.raises(ConnectionError):
        await gate.missing_before(_item(records, "m3", 3), [])


async def test_without_a_transcript_call_to_spare_the_message_goes_on_the_window(
    gate, records, transcripts, stored
):
    transcripts.agent("m1", 1)
    transcripts.no_quota = True
    assert not await gate.missing_before(_item(records, "m2", 2), [])
    assert stored.asked == []
