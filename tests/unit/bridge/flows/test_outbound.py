"""`OutboundBatch`: one outbound queue batch → one outcome per record, each chat in order.

The real `AgentReplies` does the per-event work, on the fakes of tests/fakes/bridge.py.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from service.bridge.events.transport import DONE, Settle
from service.bridge.flows.outbound import OutboundBatch
from service.bridge.policy.pacing import PacingConfig
from tests.fakes.bridge import make_session
from tests.support.clock import settle
from tests.unit.bridge.conftest import PHONE_NUMBER_ID, WA_ID
from tests.unit.bridge.flows.conftest import CUSTOMER_KEY

OTHER_CONTACT = "3333cccc-0000-4000-8000-000000000003"
OTHER_WA_ID = "5215599999999"


@pytest.fixture
def batch(replies, metrics) -> OutboundBatch:
    return OutboundBatch(replies=replies, metrics=metrics)


@pytest.fixture
def other_chat(sessions):
    sessions.add(
        make_session(
            business=PHONE_NUMBER_ID,
            customer=OTHER_WA_ID,
            initial_contact_id=OTHER_CONTACT,
            wa_id=OTHER_WA_ID,
        )
    )
    return OTHER_CONTACT


def _sent_to(whatsapp, wa_id: str) -> list[str | None]:
    return [s.body for s in whatsapp.sent if s.message.get("to") == wa_id]


async def test_malformed_records_are_parked_while_the_rest_flow(batch, records, whatsapp):
    verdicts = await batch(
        [
            records.queued("m1", "not json at all"),
            records.queued("m2", records.text("Hello", item_id="item-2")),
            records.queued("m3", '["a", "list"]'),
        ]
    )

    assert verdicts["m2"] == DONE
    for bad in ("m1", "m3"):
        assert verdicts[bad].settle is Settle.PARK
        assert verdicts[bad].cause == "malformed"
        assert verdicts[bad].reason.startswith("malformed streaming event")
    assert whatsapp.bodies == ["Hello"]


async def test_an_event_without_a_contact_is_done_and_counted(
    *, batch, records, whatsapp, sessions, registry, connect
):
    body = connect.message("orphan")
    del body["InitialContactId"]
    orphan = records.queued("m1", json.dumps(body))

    verdicts = await batch([orphan])

    assert verdicts == {"m1": DONE}
    assert whatsapp.attempts == 0
    assert sessions.lookups == []
    assert (
        registry.get_sample_value(
            "bridge_outbound_events_total", {"kind": "message", "action": "no_contact"}
        )
        == 1.0
    )


async def test_one_chats_events_are_handled_in_absolute_time_order(batch, records, whatsapp):
    verdicts = await batch(
        [
            records.queued("m3", records.text("third", item_id="i3", seconds=3.0)),
            records.queued("m1", records.text("first", item_id="i1", seconds=1.0)),
            records.queued("m2", records.text("second", item_id="i2", seconds=2.0)),
        ]
    )

    assert verdicts == {"m1": DONE, "m2": DONE, "m3": DONE}
    assert whatsapp.bodies == ["first", "second", "third"]


async def test_events_without_a_time_follow_the_timed_ones_in_arrival_order(
    batch, records, whatsapp, connect
):
    untimed = []
    for item_id, content in (("u1", "untimed 1"), ("u2", "untimed 2")):
        body = connect.message(content)
        body |= {"Id": item_id}
        del body["AbsoluteTime"]
        untimed.append(connect.sns(body))

    await batch(
        [
            records.queued("m1", untimed[0]),
            records.queued("m2", records.text("timed", item_id="t1", seconds=-700)),
            records.queued("m3", untimed[1]),
        ]
    )

    assert whatsapp.bodies == ["timed", "untimed 1", "untimed 2"]


async def test_two_chats_are_handled_in_parallel(batch, records, whatsapp, other_chat):
    held = whatsapp.hold(WA_ID)  # the first chat's send hangs
    handling = asyncio.create_task(
        batch(
            [
                records.queued("a1", records.text("to Ana", item_id="a1")),
                records.queued("b1", records.text("to Bea", item_id="b1", contact=other_chat)),
            ]
        )
    )
    await settle()

    assert _sent_to(whatsapp, OTHER_WA_ID) == ["to Bea"], "not stuck behind the other chat"
    assert not handling.done()
    held.set()
    verdicts = await handling
    assert verdicts == {"a1": DONE, "b1": DONE}
    assert _sent_to(whatsapp, WA_ID) == ["to Ana"]


async def test_a_chat_handled_by_two_batches_at_once_keeps_its_order(batch, records, whatsapp):
    held = whatsapp.hold(WA_ID)
    first = asyncio.create_task(
        batch([records.queued("m1", records.text("first", item_id="i1", seconds=1.0))])
    )
    await settle()
    second = asyncio.create_task(
        batch([records.queued("m2", records.text("second", item_id="i2", seconds=2.0))])
    )
    await settle()
    assert whatsapp.attempts == 1, "the second batch waits for the chat's lock"

    held.set()

    assert await first == {"m1": DONE}
    assert await second == {"m2": DONE}
    assert whatsapp.bodies == ["first", "second"]
    assert batch._locks == {}, "a chat's lock is forgotten once nobody holds it"


@pytest.mark.parametrize("pacing", [PacingConfig(max_wait_s=1.0)])
async def test_once_a_chats_content_is_retried_its_later_content_is_held_behind_it(
    *, batch, records, whatsapp, history, inbound, pacer, other_chat
):
    history.add(inbound.text("Hello", id_="wamid.IN1", seconds=-30))
    pacer.slow_down(PHONE_NUMBER_ID, CUSTOMER_KEY)  # this customer's next send: in 6 s

    verdicts = await batch(
        [
            records.queued("m1", records.text("first", item_id="i1", seconds=1.0)),
            records.queued("t1", records.event("typing", item_id="t1", seconds=1.5)),
            records.queued("m2", records.text("second", item_id="i2", seconds=2.0)),
            records.queued("b1", records.text("to Bea", item_id="b1", contact=other_chat)),
        ]
    )

    assert verdicts["m1"].settle is Settle.RETRY
    assert verdicts["m1"].reason == "paced"
    assert verdicts["m2"].settle is Settle.RETRY
    assert verdicts["m2"].reason == "held behind an earlier message"
    assert verdicts["m2"].retry_after_s == verdicts["m1"].retry_after_s
    assert verdicts["t1"] == DONE, "a non-content event still runs"
    assert [(r.message_id, r.typing) for r in whatsapp.reads] == [("wamid.IN1", True)]
    assert verdicts["b1"] == DONE, "another chat is not held"
    assert whatsapp.bodies == ["to Bea"]


async def test_an_item_in_progress_elsewhere_holds_the_chats_later_content(
    batch, records, whatsapp, claims
):
    await claims.claim("i1#0")  # another worker is sending the first item

    verdicts = await batch(
        [
            records.queued("m2", records.text("second", item_id="i2", seconds=2.0)),
            records.queued("m1", records.text("first", item_id="i1", seconds=1.0)),
        ]
    )

    assert verdicts["m1"].settle is Settle.RETRY
    assert verdicts["m2"].settle is Settle.RETRY
    assert whatsapp.attempts == 0, "the second item never overtakes the first"


async def test_a_record_whose_handling_raises_is_retried_and_the_others_get_their_own_outcome(
    *, batch, records, whatsapp, sessions, other_chat, logs
):
    sessions.broken[records.contact] = RuntimeError("a bug")  # Ana's lookups raise
    verdicts = await batch(
        [
            records.queued("a1", records.text("to Ana", item_id="a1", seconds=1.0)),
            records.queued("a2", records.text("to Ana again", item_id="a2", seconds=2.0)),
            records.queued("b1", records.text("to Bea", item_id="b1", contact=other_chat)),
            records.queued("x1", "{"),
        ]
    )

    assert verdicts["a1"].settle is Settle.RETRY
    assert verdicts["a1"].reason == "handling raised RuntimeError"
    assert verdicts["a2"].settle is Settle.RETRY, "held behind the one that raised"
    assert verdicts["b1"] == DONE
    assert verdicts["x1"].settle is Settle.PARK
    assert set(verdicts) == {"a1", "a2", "b1", "x1"}
    assert _sent_to(whatsapp, OTHER_WA_ID) == ["to Bea"]
    assert any(entry["event"] == "outbound_event_crashed" for entry in logs)


async def test_a_chat_end_in_the_same_batch_runs_after_the_chats_earlier_messages(
    make_replies, metrics, records, whatsapp, sessions
):
    batch = OutboundBatch(replies=make_replies(closing_message="Bye"), metrics=metrics)

    verdicts = await batch(
        [
            records.queued("e1", records.event("chat.ended", item_id="e1", seconds=3.0)),
            records.queued("m1", records.text("last words", item_id="i1", seconds=1.0)),
        ]
    )

    assert verdicts == {"e1": DONE, "m1": DONE}
    assert whatsapp.bodies == ["last words", "Bye"]
    assert sessions.by_customer == {}


@pytest.mark.parametrize("pacing", [PacingConfig(max_wait_s=1.0)])
async def test_a_chat_end_does_not_overtake_a_message_held_for_retry(
    *, make_replies, metrics, records, whatsapp, sessions, pacer
):
    batch = OutboundBatch(replies=make_replies(closing_message="Bye"), metrics=metrics)
    pacer.slow_down(PHONE_NUMBER_ID, CUSTOMER_KEY)

    verdicts = await batch(
        [
            records.queued("m1", records.text("last words", item_id="i1", seconds=1.0)),
            records.queued("e1", records.event("chat.ended", item_id="e1", seconds=3.0)),
        ]
    )

    assert verdicts["m1"].settle is Settle.RETRY
    assert verdicts["e1"].settle is Settle.RETRY
    assert whatsapp.bodies == []
