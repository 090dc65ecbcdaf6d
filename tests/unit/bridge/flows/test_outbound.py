"""`OutboundRouter`: the outbound queue's flow, each Connect item to its customer's key.

It sends nothing: it finds the chat's session (`FakeSessions`) and writes each item the
customer should see into the raw-messages table under the customer's key
(`FakeAgentItemStore`, reporting refusals the way `RawMessageWriter` does), answering one
outcome per record. Records are real Connect streaming records (SNS envelopes, or raw
delivery with SQS attributes) read by the real parser; the wall clock is the flows'
`FakeClock` (events `at(2.5)` are young, `at(-600)` old: see the flows' conftest).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from service.bridge.adapters.sessions import Session
from service.bridge.events.connect import AgentItem, ChatEndedEvent, parse_streaming_record
from service.bridge.events.transport import DONE, Outcome, Settle
from service.bridge.flows import outbound
from service.bridge.flows.outbound import OutboundRouter
from service.bridge.flows.reply import OutboundOptions
from service.errors import DependencyUnavailableError
from tests.fakes.bridge import FakeAgentItemStore, FakeSessions, QueueRecord, make_session
from tests.unit.bridge.conftest import PHONE_NUMBER_ID
from tests.unit.bridge.flows.conftest import CUSTOMER_KEY, Records

OTHER_CONTACT = "3333cccc-0000-4000-8000-000000000003"
OTHER_WA_ID = "5215599999999"
OTHER_KEY = f"{PHONE_NUMBER_ID}#{OTHER_WA_ID}"
INTERACTIVE_RESPONSE = "application/vnd.amazonaws.connect.message.interactive.response"


@pytest.fixture
def store() -> FakeAgentItemStore:
    return FakeAgentItemStore()


@pytest.fixture
def make_router(sessions, store, metrics, clock) -> Callable[..., OutboundRouter]:
    def make(**options: Any) -> OutboundRouter:
        return OutboundRouter(
            sessions=sessions,
            store=store,
            metrics=metrics,
            options=OutboundOptions(**options),
            clock=clock,
        )

    return make


@pytest.fixture
def router(make_router: Callable[..., OutboundRouter]) -> OutboundRouter:
    return make_router()


@pytest.fixture
def other_chat(sessions) -> str:
    sessions.add(
        make_session(
            business=PHONE_NUMBER_ID,
            customer=OTHER_WA_ID,
            initial_contact_id=OTHER_CONTACT,
            wa_id=OTHER_WA_ID,
        )
    )
    return OTHER_CONTACT


def _events(registry, kind: str, action: str) -> float:
    return (
        registry.get_sample_value("bridge_outbound_events_total", {"kind": kind, "action": action})
        or 0.0
    )


def _written(store: FakeAgentItemStore) -> list[str]:
    """The Connect item keys written, in the order they were asked for."""
    return [item.key for call in store.calls for item in call]


# ---------------------------------------------------------------- what cannot be read


async def test_malformed_records_are_parked_while_the_rest_flow(router, records, store):
    broken_envelope = json.dumps({"Type": "Notification", "Message": "{not json"})

    outcomes = await router(
        [
            records.queued("m1", "not json at all"),
            records.queued("m2", records.text("Hello", item_id="item-2")),
            records.queued("m3", '["a", "list"]'),
            records.queued("m4", broken_envelope),
        ]
    )

    assert outcomes["m2"] == DONE
    for bad in ("m1", "m3", "m4"):
        assert outcomes[bad].settle is Settle.PARK, bad
        assert outcomes[bad].cause == "malformed"
        assert outcomes[bad].reason.startswith("malformed streaming event: "), bad
    assert len(outcomes) == 4
    assert _written(store) == ["item-2"]


async def test_a_parser_that_crashes_parks_that_record_as_malformed(
    router, records, store, monkeypatch
):
    real = parse_streaming_record

    def parse(body: Any, **kwargs: Any) -> Any:
        if "boom" in body:
            raise RecursionError
        return real(body, **kwargs)

    monkeypatch.setattr(outbound, "parse_streaming_record", parse)

    outcomes = await router(
        [
            records.queued("m1", records.text("boom", item_id="item-1")),
            records.queued("m2", records.text("fine", item_id="item-2")),
        ]
    )

    assert outcomes["m1"].settle is Settle.PARK
    assert outcomes["m1"].cause == "malformed"
    assert outcomes["m1"].reason == "malformed streaming event: parser raised RecursionError"
    assert outcomes["m2"] == DONE
    assert _written(store) == ["item-2"]


# ---------------------------------------------------------------- what the customer never sees

Body = Callable[[Records], str]

NEVER_SEEN: list[Any] = [
    pytest.param(lambda r: r.text("my own words", role="CUSTOMER"), "message", id="customer"),
    pytest.param(lambda r: r.text("internal", visibility="AGENT"), "message", id="agent-only"),
    pytest.param(
        lambda r: r.text('{"x": 1}', role="AGENT", content_type=INTERACTIVE_RESPONSE),
        "message",
        id="interactive-response-echo",
    ),
    pytest.param(lambda r: r.event("participant.joined"), "participant", id="joined"),
    pytest.param(lambda r: r.event("participant.left"), "participant", id="left"),
    pytest.param(lambda r: r.event("transfer.succeeded"), "transfer_succeeded", id="transfer"),
    pytest.param(lambda r: r.event("something.new"), "other", id="unknown"),
]


@pytest.mark.parametrize(("body", "kind"), NEVER_SEEN)
async def test_events_the_customer_never_sees_are_done_without_a_write(
    *, router, records, store, sessions, registry, body: Body, kind: str
):
    outcomes = await router([records.queued("m1", body(records))])

    assert outcomes == {"m1": DONE}
    assert store.calls == [], "nothing to write, not even an empty batch"
    assert sessions.lookups == [], "no session needed to decide that"
    assert _events(registry, kind, "not_routed") == 1.0


async def test_an_event_without_a_contact_is_done_without_a_lookup(
    *, router, records, store, sessions, registry, connect
):
    body = connect.message("orphan") | {"Id": "item-1"}
    del body["InitialContactId"]

    outcomes = await router([records.queued("m1", json.dumps(body))])

    assert outcomes == {"m1": DONE}
    assert sessions.lookups == []
    assert store.calls == []
    assert _events(registry, "message", "not_routed") == 1.0


@pytest.mark.parametrize(
    ("body", "options", "written"),
    [
        pytest.param(lambda r: r.event("typing"), {}, True, id="agent-typing"),
        pytest.param(lambda r: r.event("typing", role="CUSTOMER"), {}, False, id="customer-typing"),
        pytest.param(
            lambda r: r.event("message.read"),
            {"mark_read_on_agent_read": True},
            True,
            id="agent-read-marks-read",
        ),
        pytest.param(lambda r: r.event("message.read"), {}, False, id="agent-read-policy-off"),
        pytest.param(
            lambda r: r.event("message.read", role="CUSTOMER"),
            {"mark_read_on_agent_read": True},
            False,
            id="customer-read-echo",
        ),
        pytest.param(
            lambda r: r.event("message.delivered"),
            {"mark_read_on_agent_read": True},
            False,
            id="delivered",
        ),
        pytest.param(
            lambda r: r.text("flow says hi", role="SYSTEM"), {}, True, id="system-forwarded"
        ),
        pytest.param(
            lambda r: r.text("flow says hi", role="SYSTEM"),
            {"forward_system": False},
            False,
            id="system-not-forwarded",
        ),
        pytest.param(
            lambda r: r.text("bot says hi", role="CUSTOM_BOT"),
            {"forward_bots": False},
            False,
            id="bot-not-forwarded",
        ),
    ],
)
async def test_typing_receipt_and_sender_rules(
    *, make_router, records, store, body: Body, options: dict[str, Any], written: bool
):
    router = make_router(**options)

    outcomes = await router([records.queued("m1", body(records))])

    assert outcomes == {"m1": DONE}
    assert len(_written(store)) == (1 if written else 0)


async def test_chat_ended_is_routed_to_the_customer(router, records, store, registry):
    outcomes = await router([records.queued("m1", records.event("chat.ended", role=None))])

    assert outcomes == {"m1": DONE}
    [item] = store.stored.values()
    assert isinstance(item.event, ChatEndedEvent)
    assert item.customer_key == CUSTOMER_KEY
    assert _events(registry, "chat_ended", "routed") == 1.0


# ---------------------------------------------------------------- sessions


async def test_one_session_lookup_per_chat_and_one_write_per_batch(
    *, router, records, store, sessions, other_chat, connect
):
    batch = [
        records.queued("a1", records.text("one", item_id="a1")),
        records.queued("b1", records.text("uno", item_id="b1", contact=other_chat)),
        records.queued("a2", records.text("two", item_id="a2")),
        records.queued("a3", records.event("typing", item_id="a3")),
        records.queued("b2", records.text("dos", item_id="b2", contact=other_chat)),
    ]

    outcomes = await router(batch)

    assert outcomes == dict.fromkeys(("a1", "b1", "a2", "a3", "b2"), DONE)
    assert sorted(sessions.lookups) == sorted([connect.initial_contact_id, other_chat])
    [call] = store.calls
    assert {item.key: item.customer_key for item in call} == {
        "a1": CUSTOMER_KEY,
        "a2": CUSTOMER_KEY,
        "a3": CUSTOMER_KEY,
        "b1": OTHER_KEY,
        "b2": OTHER_KEY,
    }
    assert [item.key for item in call if item.customer_key == CUSTOMER_KEY] == ["a1", "a2", "a3"]


async def test_a_batchs_chats_are_looked_up_at_once_not_one_after_another(
    *, router, records, sessions: FakeSessions, other_chat, connect, monkeypatch
):
    started: list[str] = []
    both_asked = asyncio.Event()
    find = sessions.find_by_initial_contact

    async def slow_find(contact: str) -> Session | None:
        started.append(contact)
        if len(started) == 2:
            both_asked.set()
        # In a row, the first read would wait here for ever: the second never started.
        async with asyncio.timeout(5):
            await both_asked.wait()
        return await find(contact)

    monkeypatch.setattr(sessions, "find_by_initial_contact", slow_find)
    batch = [
        records.queued("a1", records.text("one", item_id="a1")),
        records.queued("b1", records.text("uno", item_id="b1", contact=other_chat)),
    ]

    assert await router(batch) == {"a1": DONE, "b1": DONE}
    assert sorted(started) == sorted([connect.initial_contact_id, other_chat])


async def test_a_failed_lookup_fails_the_batch_with_its_own_error(
    *, router, records, sessions, other_chat
):
    sessions.broken[other_chat] = DependencyUnavailableError("DynamoDB did not answer")
    batch = [
        records.queued("a1", records.text("one", item_id="a1")),
        records.queued("b1", records.text("uno", item_id="b1", contact=other_chat)),
    ]

    with pytest.raises(
        DependencyUnavailableError
    ):  # not an ExceptionGroup the consumer cannot read
        await router(batch)


async def test_without_a_session_a_young_event_is_retried_and_an_old_one_is_done(
    *, make_router, records, store, sessions, other_chat, registry
):
    del sessions.by_customer[CUSTOMER_KEY]  # Ana's chat: not stored yet, or long gone
    router = make_router(session_grace_s=10.0, session_retry_s=3.5)

    outcomes = await router(
        [
            records.queued("young", records.text("hi", item_id="young", seconds=-4)),  # 9 s
            records.queued("old", records.text("hi", item_id="old", seconds=-6)),  # 11 s
            records.queued("other", records.text("hola", item_id="other", contact=other_chat)),
        ]
    )

    assert outcomes["young"] == Outcome(Settle.RETRY, "no session yet", 3.5)
    assert outcomes["old"] == DONE
    assert outcomes["other"] == DONE
    assert _written(store) == ["other"], "the chat that has a session still flows"
    assert _events(registry, "message", "no_session") == 1.0


# ---------------------------------------------------------------- what is written


async def test_the_item_written_is_the_record_as_received_under_the_customers_key(
    router, records, store
):
    payload = records.text("Your order ships today", item_id="item-7")

    outcomes = await router([records.queued("m1", payload)])

    assert outcomes == {"m1": DONE}
    [[item]] = store.calls
    assert item == AgentItem(
        customer_key=CUSTOMER_KEY,
        key="item-7",
        payload=payload,
        attributes={},
        event=parse_streaming_record(payload),
    )


async def test_a_raw_delivery_keeps_its_attributes_and_reads_the_same_again(router, store, connect):
    body = connect.message("Your order ships today") | {"Id": "item-8"}
    del body["InitialContactId"]  # raw delivery: the routing facts are SQS attributes
    del body["ContactId"]
    attributes = {
        "InitialContactId": connect.initial_contact_id,
        "ContactId": connect.contact_id,
        "MessageVisibility": "ALL",
        "Type": "MESSAGE",
        "ParticipantRole": "AGENT",
        "ContentType": "text/plain",
    }
    message = QueueRecord("m1", json.dumps(body), "dedup-m1", attributes)

    outcomes = await router([message])

    assert outcomes == {"m1": DONE}
    [[item]] = store.calls
    assert (item.customer_key, item.key) == (CUSTOMER_KEY, "item-8")
    assert item.payload == message.payload
    assert item.attributes == attributes
    # The shard's owner parses the stored form again: it must read as the same event.
    again = AgentItem.of(
        customer_key=item.customer_key,
        key=item.key,
        payload=item.payload,
        attributes=item.attributes,
    )
    assert again == item
    assert again.event.initial_contact_id == connect.initial_contact_id


async def test_an_item_without_an_id_is_keyed_by_the_sns_dedup_key(router, records, store):
    payload = records.text("no id")
    body = json.loads(json.loads(payload)["Message"])
    del body["Id"]
    envelope = json.loads(payload) | {"Message": json.dumps(body)}

    outcomes = await router([records.queued("m1", json.dumps(envelope))])

    assert outcomes == {"m1": DONE}
    assert _written(store) == ["dedup-m1"]


async def test_rejected_writes_are_parked_and_unwritten_ones_retried(
    router, records, store, registry
):
    store.rejected["item-2"] = "message of 512 KB over DynamoDB's 400 KB item limit"
    store.unwritten["item-3"] = "raw write throttled"

    outcomes = await router(
        [records.queued(f"m{n}", records.text(f"text {n}", item_id=f"item-{n}")) for n in (1, 2, 3)]
    )

    assert outcomes["m1"] == DONE
    assert outcomes["m2"].settle is Settle.PARK
    assert outcomes["m2"].cause == "rejected"
    assert outcomes["m2"].reason == "message of 512 KB over DynamoDB's 400 KB item limit"
    assert outcomes["m3"].settle is Settle.RETRY
    assert outcomes["m3"].reason == "raw write throttled"
    assert _events(registry, "message", "routed") == 1.0


# ---------------------------------------------------------------- the `note` shortcut


@pytest.fixture
def closed(sessions, session, clock):
    """The chat's window closed an hour ago."""
    sessions.add(
        dataclasses.replace(session, last_customer_message_at=int(clock.time()) - 25 * 3600)
    )


@pytest.fixture
def noting(sessions, store, metrics, clock, chat) -> Callable[[str], OutboundRouter]:
    def make(policy: str) -> OutboundRouter:
        return OutboundRouter(
            sessions=sessions,
            store=store,
            metrics=metrics,
            options=OutboundOptions(window_closed=policy),
            notes=chat,
            clock=clock,
        )

    return make


@pytest.mark.usefixtures("closed")
async def test_a_closed_window_is_told_at_once_under_the_note_policy_and_nothing_routed(
    noting, records, *, store, chat
):
    outcomes = await noting("note")(
        [
            records.queued("m1", records.text("Too late", item_id="late-1")),
            records.queued("m1", records.text("Too late", item_id="late-1")),  # redelivered
            records.queued("m2", records.text("/templates", item_id="cmd-1")),
        ]
    )
    assert outcomes == {"m1": DONE, "m2": DONE}
    [note] = chat.notes
    assert note.text.startswith("⏰ Not sent to WhatsApp")
    # The same token as the reply flow's, so the lane's own decision adds nothing.
    assert note.client_token == "note-late-1#window"
    assert _written(store) == ["cmd-1"]  # a command is for the lane to answer


@pytest.mark.usefixtures("closed")
@pytest.mark.parametrize("policy", ["template", "send"])
async def test_other_policies_leave_the_decision_to_the_lane(
    noting, records, policy, *, store, chat
):
    await noting(policy)([records.queued("m1", records.text("Hi", item_id="i-1"))])
    assert chat.notes == []
    assert _written(store) == ["i-1"]


@pytest.mark.usefixtures("closed")
async def test_a_note_that_cannot_be_given_now_is_left_to_the_lane(noting, records, *, store, chat):
    chat.gone = True
    await noting("note")([records.queued("m1", records.text("Hi", item_id="i-1"))])
    assert _written(store) == ["i-1"]
