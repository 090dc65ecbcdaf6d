"""`flows/order_gate.py`: Connect's transcript tells the lane an earlier message is coming.

The transcript is a fake of the adapter's one call (`get_transcript`), answering the items
Connect holds from the asked start time on, as the Participant Service does.
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
from tests.unit.bridge.flows.conftest import CUSTOMER_KEY, Records, at

if TYPE_CHECKING:
    from types_aiobotocore_connectparticipant.type_defs import ItemTypeDef


@dataclass
class FakeTranscripts:
    items: list[dict[str, Any]] = field(default_factory=list)
    starts: list[str | None] = field(default_factory=list)
    error: Exception | None = None

    def agent(self, item_id: str, seconds: float, *, kind: str = "MESSAGE") -> None:
        self.items.append(
            {"Id": item_id, "AbsoluteTime": at(seconds), "Type": kind, "ParticipantRole": "AGENT"}
        )

    async def get_transcript(
        self, *, connection_token: str, start_time: str | None = None
    ) -> TranscriptPage:
        assert connection_token
        self.starts.append(start_time)
        if self.error is not None:
            raise self.error
        since = datetime.fromisoformat(start_time).timestamp() if start_time else 0.0
        found = [
            i for i in self.items if datetime.fromisoformat(i["AbsoluteTime"]).timestamp() >= since
        ]
        return TranscriptPage(items=cast("list[ItemTypeDef]", found), next_token=None)


@pytest.fixture
def transcripts() -> FakeTranscripts:
    return FakeTranscripts()


@pytest.fixture
def gate(
    sessions: FakeSessions, chat: FakeChat, transcripts: FakeTranscripts
) -> TranscriptOrderGate:
    return TranscriptOrderGate(sessions=sessions, chat=chat, transcripts=transcripts)


def _item(records: Records, item_id: str, seconds: float) -> AgentItem:
    payload = records.text(f"text of {item_id}", item_id=item_id, seconds=seconds)
    return AgentItem.of(customer_key=CUSTOMER_KEY, key=item_id, payload=payload, attributes={})


async def test_the_first_item_for_a_customer_goes_without_asking(gate, records, transcripts):
    assert not await gate.missing_before(_item(records, "m2", 2), [])
    assert transcripts.starts == []


async def test_an_item_written_between_the_last_sent_and_this_one_is_missing(
    gate, records, transcripts
):
    first, third = _item(records, "m1", 1), _item(records, "m3", 3)
    for item_id, seconds in (("m1", 1), ("m2", 2), ("m3", 3)):
        transcripts.agent(item_id, seconds)
    gate.settled(first)

    assert await gate.missing_before(third, [])
    [start] = transcripts.starts
    assert start is not None
    assert datetime.fromisoformat(start) == datetime.fromisoformat(at(1)), "from the last sent"
    # Once it reached the lane (pending), nothing is missing.
    assert not await gate.missing_before(third, [_item(records, "m2", 2)])


async def test_only_the_agents_messages_and_attachments_count(gate, records, transcripts):
    gate.settled(_item(records, "m1", 1))
    transcripts.agent("typing", 2, kind="EVENT")
    transcripts.items.append(
        {"Id": "c1", "AbsoluteTime": at(2), "Type": "MESSAGE", "ParticipantRole": "CUSTOMER"}
    )
    assert not await gate.missing_before(_item(records, "m3", 3), [])
    transcripts.agent("file", 2, kind="ATTACHMENT")
    assert await gate.missing_before(_item(records, "m3", 3), [])


async def test_an_item_older_than_the_last_sent_is_not_waited_for(gate, records, transcripts):
    gate.settled(_item(records, "m5", 5))
    transcripts.agent("m4", 4)  # handled elsewhere or long ago: not between
    assert not await gate.missing_before(_item(records, "m6", 6), [])


async def test_a_handoff_forgets_what_this_worker_knew(gate, records, transcripts):
    gate.settled(_item(records, "m1", 1))
    transcripts.agent("m2", 2)
    gate.forget(CUSTOMER_KEY)
    assert not await gate.missing_before(_item(records, "m3", 3), [])


async def test_a_failing_transcript_raises_for_the_lane_to_decide(gate, records, transcripts):
    gate.settled(_item(records, "m1", 1))
    transcripts.error = ConnectionError("participant service unreachable")
    with pytest.raises(ConnectionError):
        await gate.missing_before(_item(records, "m3", 3), [])
