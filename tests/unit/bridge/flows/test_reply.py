"""`AgentReplies.handle`: each Connect event of a chat → what the customer gets on WhatsApp.

Against fakes of the ports (tests/fakes/bridge.py), the real pacer, the real streaming
record parser and the real Markdown / interactive renderers; time is a `FakeClock`.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from service.bridge.adapters.claims import SentMessage, callback_data
from service.bridge.events.transport import DONE, Outcome, Settle
from service.bridge.flows.status import NOTE_PREFIX
from service.bridge.policy.pacing import PacingConfig
from service.errors import (
    DependencyUnavailableError,
    RefusedAfterReconnectError,
    ThrottledError,
    WhatsAppSendError,
)
from tests.fakes.bridge import ORIGINATION_ID, make_session
from tests.unit.bridge.conftest import BSUID, PHONE_NUMBER_ID, WA_ID
from tests.unit.bridge.flows.conftest import CUSTOMER_KEY, INTERACTIVE, MARKDOWN, attachment

TO_CUSTOMER = {"recipient_type": "individual", "to": WA_ID}


def _text(body: str) -> dict[str, object]:
    return {**TO_CUSTOMER, "type": "text", "text": {"preview_url": False, "body": body}}


def _claimed(message: dict[str, object], key: str) -> dict[str, object]:
    """What WhatsApp gets for a send claimed under `key`: the claim rides along, echoed in
    the message's statuses (`claims.callback_data`)."""
    return {**message, "biz_opaque_callback_data": callback_data(key)}


def _events(registry, kind: str, action: str) -> float:
    return (
        registry.get_sample_value("bridge_outbound_events_total", {"kind": kind, "action": action})
        or 0.0
    )


# ---------------------------------------------------------------- text and markdown


async def test_agent_text_becomes_a_whatsapp_text_to_the_customer(
    replies, records, whatsapp, claims, session
):
    event = records.parse(records.text("Hi, I am Luis", item_id="item-1"))

    outcome = await replies.handle(event, "dedup-1")

    assert outcome == DONE
    [sent] = whatsapp.sent
    assert sent.origination_id == ORIGINATION_ID
    assert sent.message == _claimed(_text("Hi, I am Luis"), "item-1#0")
    assert claims.state("item-1#0") == claims.COMPLETE
    assert claims.whatsapp_message_id("item-1#0") == sent.whatsapp_message_id
    assert claims.remembered() == [
        SentMessage(
            whatsapp_message_id=sent.whatsapp_message_id,
            initial_contact_id=session.initial_contact_id,
            connect_item_id="item-1",
            customer_key=CUSTOMER_KEY,
            message=_text("Hi, I am Luis"),
        )
    ]


async def test_agent_markdown_is_converted_to_whatsapp_formatting(replies, records, whatsapp):
    content = "**Order** P12345 is ~~late~~ _on its way_:\n* track it [here](https://x.example/t)"
    event = records.parse(records.text(content, content_type=MARKDOWN))

    assert await replies.handle(event, "dedup-1") == DONE

    assert whatsapp.bodies == [
        "*Order* P12345 is ~late~ _on its way_:\n- track it here (https://x.example/t)"
    ]


async def test_plain_text_is_sent_as_written_not_as_markdown(replies, records, whatsapp):
    event = records.parse(records.text("**not bold** 2*3*4", content_type="text/plain"))

    await replies.handle(event, "dedup-1")

    assert whatsapp.bodies == ["**not bold** 2*3*4"]


async def test_a_long_text_is_split_and_each_part_is_claimed_on_its_own(
    replies, records, whatsapp, claims
):
    long_text = " ".join(f"w{i:04d}" for i in range(1500))  # 8,999 characters
    event = records.parse(records.text(long_text, item_id="item-9"))

    assert await replies.handle(event, "dedup-1") == DONE

    bodies = [b or "" for b in whatsapp.bodies]
    assert len(bodies) == 3
    assert all(len(b) <= 4096 for b in bodies)
    assert " ".join(bodies).split() == long_text.split()
    assert [k for op, k in claims.operations if op == "claim"] == [
        "item-9#0",
        "item-9#1",
        "item-9#2",
    ]
    assert [claims.whatsapp_message_id(f"item-9#{i}") for i in range(3)] == [
        s.whatsapp_message_id for s in whatsapp.sent
    ]


async def test_a_retry_after_a_part_failed_sends_only_the_parts_not_yet_sent(
    replies, records, whatsapp, claims
):
    long_text = " ".join(f"w{i:04d}" for i in range(1500))
    event = records.parse(records.text(long_text, item_id="item-9"))
    whatsapp.fail("send", None, DependencyUnavailableError("EUM timed out"))

    first = await replies.handle(event, "dedup-1")
    second = await replies.handle(event, "dedup-1")

    assert first.settle is Settle.RETRY
    assert second == DONE
    bodies = [b or "" for b in whatsapp.bodies]
    assert len(bodies) == 3, "part 0 once, then parts 1 and 2: nothing twice"
    assert " ".join(bodies).split() == long_text.split()


# ---------------------------------------------------------------- claims


async def test_a_duplicate_delivery_sends_nothing_and_is_counted(
    replies, records, whatsapp, registry
):
    event = records.parse(records.text("Only once"))

    assert await replies.handle(event, "dedup-1") == DONE
    assert await replies.handle(event, "dedup-2") == DONE

    assert whatsapp.bodies == ["Only once"]
    assert registry.get_sample_value("bridge_outbound_duplicates_total") == 1.0


async def test_an_item_another_worker_is_sending_is_retried_and_its_claim_left_alone(
    replies, records, whatsapp, claims
):
    await claims.claim("item-1#0")  # another worker's claim, in progress
    event = records.parse(records.text("Hello"))

    outcome = await replies.handle(event, "dedup-1")

    assert outcome.settle is Settle.RETRY
    assert whatsapp.attempts == 0
    assert claims.state("item-1#0") == claims.INPROGRESS
    assert ("release", "item-1#0") not in claims.operations


async def test_a_claim_whose_worker_died_is_taken_over_once_it_expires(
    replies, records, whatsapp, claims, clock
):
    await claims.claim("item-1#0")  # its worker died before completing it
    event = records.parse(records.text("Hello"))
    assert (await replies.handle(event, "dedup-1")).settle is Settle.RETRY

    clock.tick(61)

    assert await replies.handle(event, "dedup-1") == DONE
    assert whatsapp.bodies == ["Hello"]


async def test_a_send_whose_claim_cannot_be_completed_keeps_its_claim_in_progress(
    replies, records, whatsapp, claims
):
    # WhatsApp took the message: releasing the claim now would let a retry send it twice.
    claims.fail("complete", DependencyUnavailableError("DynamoDB timed out"))
    event = records.parse(records.text("Hello"))

    first = await replies.handle(event, "dedup-1")
    second = await replies.handle(event, "dedup-1")

    assert first.settle is Settle.RETRY
    assert second.settle is Settle.RETRY
    assert claims.state("item-1#0") == claims.INPROGRESS
    assert whatsapp.bodies == ["Hello"]


# ---------------------------------------------------------------- failures


async def test_a_retryable_send_error_releases_the_claim_and_retries(
    replies, records, whatsapp, claims
):
    whatsapp.fail("send", DependencyUnavailableError("EUM 503"))
    event = records.parse(records.text("Hello"))

    outcome = await replies.handle(event, "dedup-1")

    assert outcome == Outcome(Settle.RETRY, "DependencyUnavailableError")
    assert claims.state("item-1#0") is None
    assert await replies.handle(event, "dedup-1") == DONE
    assert whatsapp.bodies == ["Hello"]


async def test_a_throttled_send_is_retried_after_the_wait_it_names(
    replies, records, claims, whatsapp
):
    whatsapp.fail("send", ThrottledError("EUM throttled", retry_after_s=3.0))

    outcome = await replies.handle(records.parse(records.text("Hello")), "dedup-1")

    assert outcome == Outcome(Settle.RETRY, "ThrottledError", 3.0)
    assert claims.state("item-1#0") is None


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (131026, "WhatsApp cannot deliver to this customer"),
        (131047, "24 hours"),
        (131051, "WhatsApp reported an error (code 131051)."),
        (None, "WhatsApp reported an error."),
    ],
)
async def test_a_whatsapp_refusal_settles_the_claim_and_tells_the_agent_in_plain_words(
    *, replies, records, whatsapp, claims, chat, session, code, words
):
    whatsapp.fail("send", WhatsAppSendError("(#131026) Message undeliverable", meta_code=code))
    event = records.parse(records.text("Hello", item_id="item-1"))

    assert await replies.handle(event, "dedup-1") == DONE

    assert whatsapp.sent == []
    assert claims.state("item-1#0") == claims.COMPLETE
    assert claims.whatsapp_message_id("item-1#0") is None
    [note] = chat.notes
    assert note.contact_id == session.contact_id
    assert note.text.startswith(NOTE_PREFIX)
    assert words in note.text
    assert note.client_token == "note-item-1#0"
    # A redelivery neither sends nor notes again.
    assert await replies.handle(event, "dedup-1") == DONE
    assert whatsapp.attempts == 1
    assert chat.note_attempts == 1


@pytest.mark.parametrize(
    ("code", "customer", "wait_s"),
    [
        (131056, CUSTOMER_KEY, 6.0),  # the pair rate: this customer's bucket is emptied...
        (131056, "another-customer", 0.0),  # ...and only this customer's
        (130429, "another-customer", 1 / 80),  # the number's throughput: everyone waits
    ],
)
async def test_a_rate_limit_refusal_slows_the_pacer_and_retries_without_a_note(
    *, replies, records, whatsapp, claims, chat, pacer, code, customer, wait_s
):
    whatsapp.fail("send", WhatsAppSendError("rate limited", meta_code=code))

    outcome = await replies.handle(records.parse(records.text("Hello")), "dedup-1")

    assert outcome.settle is Settle.RETRY
    assert str(code) in outcome.reason
    assert claims.state("item-1#0") is None
    assert chat.note_attempts == 0
    assert pacer.reserve(PHONE_NUMBER_ID, customer).wait_s == pytest.approx(wait_s)


@pytest.mark.parametrize("pacing", [PacingConfig(max_wait_s=1.0)])
async def test_a_send_the_pacer_would_hold_too_long_is_retried_after_its_wait(
    replies, records, whatsapp, claims, pacer
):
    pacer.slow_down(PHONE_NUMBER_ID, CUSTOMER_KEY)  # next token for this pair in 6 s

    outcome = await replies.handle(records.parse(records.text("Hello")), "dedup-1")

    assert (outcome.settle, outcome.reason) == (Settle.RETRY, "paced")
    assert outcome.retry_after_s == pytest.approx(6.0)
    assert whatsapp.attempts == 0
    assert claims.state("item-1#0") is None


async def test_an_unexpected_exception_is_retried_and_releases_the_claim(
    replies, records, whatsapp, claims
):
    whatsapp.fail("send", RuntimeError("a bug"))

    outcome = await replies.handle(records.parse(records.text("Hello")), "dedup-1")

    assert outcome == Outcome(Settle.RETRY, "handling raised RuntimeError")
    assert claims.state("item-1#0") is None


async def test_a_session_without_any_customer_identity_is_parked_and_releases_the_claim(
    *, make_replies, sessions, session, records, whatsapp, claims
):
    sessions.add(
        make_session(
            business=PHONE_NUMBER_ID,
            customer=BSUID,
            initial_contact_id=session.initial_contact_id,
            wa_id=None,
            bsuid=None,
        )
    )

    outcome = await make_replies().handle(records.parse(records.text("Hello")), "dedup-1")

    assert outcome == Outcome(Settle.PARK, "InvalidRequestError")
    assert whatsapp.attempts == 0
    assert claims.state("item-1#0") is None


async def test_a_customer_known_only_by_bsuid_is_addressed_by_it(
    make_replies, sessions, session, records, whatsapp
):
    sessions.add(
        make_session(
            business=PHONE_NUMBER_ID,
            customer=BSUID,
            initial_contact_id=session.initial_contact_id,
            wa_id=None,
            bsuid=BSUID,
        )
    )

    await make_replies().handle(records.parse(records.text("Hello")), "dedup-1")

    [sent] = whatsapp.sent
    assert sent.message["recipient"] == BSUID
    assert "to" not in sent.message


# ---------------------------------------------------------------- who is forwarded


@pytest.mark.parametrize(
    ("role", "visibility", "content_type"),
    [
        ("CUSTOMER", "ALL", "text/plain"),  # the customer's own words, streamed back
        ("AGENT", "AGENT", "text/plain"),  # meant for agents only
        ("AGENT", "ALL", INTERACTIVE + ".response"),  # the customer's choice echoed back
    ],
)
async def test_items_not_meant_for_the_customer_are_not_forwarded(
    *, replies, records, whatsapp, claims, sessions, role, visibility, content_type
):
    event = records.parse(
        records.text("x", role=role, visibility=visibility, content_type=content_type)
    )

    assert await replies.handle(event, "dedup-1") == DONE

    assert whatsapp.attempts == 0
    assert claims.operations == []
    assert sessions.lookups == []


@pytest.mark.parametrize(
    ("role", "options", "forwarded"),
    [
        ("SYSTEM", {}, True),
        ("SYSTEM", {"forward_system": False}, False),
        ("CUSTOM_BOT", {}, True),
        ("CUSTOM_BOT", {"forward_bots": False}, False),
        ("SUPERVISOR", {"forward_system": False, "forward_bots": False}, True),
    ],
)
async def test_system_and_bot_messages_follow_the_forwarding_options(
    *, make_replies, records, whatsapp, role, options, forwarded
):
    event = records.parse(records.text("Your call is important to us", role=role))

    assert await make_replies(**options).handle(event, "dedup-1") == DONE

    assert whatsapp.bodies == (["Your call is important to us"] if forwarded else [])


# ---------------------------------------------------------------- interactive


def _list_picker(*titles: str) -> str:
    return json.dumps(
        {
            "templateType": "ListPicker",
            "version": "1.0",
            "data": {
                "content": {
                    "title": "What can we help with?",
                    "elements": [{"title": t} for t in titles],
                }
            },
        }
    )


async def test_a_list_picker_becomes_a_whatsapp_interactive_list(
    make_replies, records, whatsapp, claims
):
    content = _list_picker("Billing", "Orders", "Returns", "Other")
    event = records.parse(records.text(content, content_type=INTERACTIVE, role="SYSTEM"))

    assert await make_replies(list_button_label="Choose").handle(event, "dedup-1") == DONE

    [sent] = whatsapp.sent
    assert sent.message["type"] == "interactive"
    assert sent.message["to"] == WA_ID
    interactive = sent.message["interactive"]
    assert interactive["type"] == "list"
    assert interactive["body"] == {"text": "What can we help with?"}
    assert interactive["action"]["button"] == "Choose"
    rows = interactive["action"]["sections"][0]["rows"]
    assert [r["title"] for r in rows] == ["Billing", "Orders", "Returns", "Other"]
    assert claims.state("item-1#0") == claims.COMPLETE


async def test_an_interactive_too_large_for_whatsapp_falls_back_to_numbered_text(
    replies, records, whatsapp
):
    titles = [f"Option {i}" for i in range(15)]  # a list holds 10 rows at most
    event = records.parse(records.text(_list_picker(*titles), content_type=INTERACTIVE))

    assert await replies.handle(event, "dedup-1") == DONE

    [sent] = whatsapp.sent
    assert sent.type == "text"
    assert "What can we help with?" in (sent.body or "")
    assert "Option 14" in (sent.body or "")


async def test_a_malformed_interactive_sends_nothing(replies, records, whatsapp, claims):
    event = records.parse(records.text("{not json", content_type=INTERACTIVE))

    assert await replies.handle(event, "dedup-1") == DONE

    assert whatsapp.attempts == 0
    assert claims.operations == []


async def test_a_malformed_interactive_is_reported_to_the_agent(replies, records, chat):
    event = records.parse(records.text("{not json", content_type=INTERACTIVE))

    await replies.handle(event, "dedup-1")

    assert chat.notes


# ---------------------------------------------------------------- attachments


async def test_an_approved_attachment_is_sent_through_the_media_port(
    *, replies, records, whatsapp, media, chat, claims
):
    body = records.attachment(
        attachment("att-1", "invoice.pdf"),
        attachment("att-2", "virus.exe", status="REJECTED"),
        item_id="item-7",
    )

    assert await replies.handle(records.parse(body), "dedup-1") == DONE

    assert [(r.attachment_id, r.connection_token, r.origination_id) for r in media.requests] == [
        ("att-1", "conn-token-1", ORIGINATION_ID)
    ]
    assert chat.tokens == ["conn-token-1"], "fetched through the chat's connection"
    [sent] = whatsapp.sent
    assert sent.message == _claimed(
        {
            **TO_CUSTOMER,
            "type": "document",
            "document": {"id": "media-att-1", "filename": "invoice.pdf"},
        },
        "item-7#att-1",
    )
    assert claims.state("item-7#att-1") == claims.COMPLETE
    assert claims.state("item-7#att-2") is None


async def test_an_attachment_whatsapp_cannot_take_becomes_a_note_once(
    *, replies, records, whatsapp, media, chat, claims
):
    reason = "floor-plan.png is 6.0 MB; WhatsApp takes images up to 5.0 MB."
    media.refuse["att-1"] = reason
    event = records.parse(records.attachment(attachment("att-1", "floor-plan.png")))

    assert await replies.handle(event, "dedup-1") == DONE
    assert await replies.handle(event, "dedup-2") == DONE  # redelivered

    assert whatsapp.attempts == 0
    assert claims.state("item-1#att-1") == claims.COMPLETE
    assert claims.whatsapp_message_id("item-1#att-1") is None
    assert [(n.text, n.client_token) for n in chat.notes] == [
        (NOTE_PREFIX + reason, "note-item-1#att-1")
    ]
    assert chat.note_attempts == 1


async def test_an_attachment_in_a_chat_that_is_gone_is_settled(
    *, replies, records, whatsapp, chat, claims, registry
):
    chat.gone = True
    event = records.parse(records.attachment(attachment("att-1", "invoice.pdf")))

    assert await replies.handle(event, "dedup-1") == DONE

    assert whatsapp.attempts == 0
    assert claims.state("item-1#att-1") is None
    assert _events(registry, "attachment", "chat_gone") == 1.0


async def test_an_attachment_refused_right_after_a_reconnect_is_retried(
    replies, records, whatsapp, chat, claims
):
    chat.fail("call", RefusedAfterReconnectError("refused right after a reconnect"))
    event = records.parse(records.attachment(attachment("att-1", "invoice.pdf")))

    outcome = await replies.handle(event, "dedup-1")

    assert outcome == Outcome(Settle.RETRY, "RefusedAfterReconnectError")
    assert claims.state("item-1#att-1") is None
    assert await replies.handle(event, "dedup-1") == DONE
    assert [s.type for s in whatsapp.sent] == ["document"]


# ---------------------------------------------------------------- typing and reads


async def test_agent_typing_shows_one_indicator_per_interval(
    *, replies, records, whatsapp, history, inbound, clock
):
    history.add(inbound.text("Hello", id_="wamid.IN1", seconds=-30))
    typing = records.parse(records.event("typing"))

    for _ in range(3):
        assert await replies.handle(typing, "dedup") == DONE
        clock.tick(3)  # 9 s in all: still inside the 10 s interval
    assert len(whatsapp.reads) == 1
    clock.tick(1)
    assert await replies.handle(typing, "dedup") == DONE

    assert [(r.message_id, r.typing) for r in whatsapp.reads] == [
        ("wamid.IN1", True),
        ("wamid.IN1", True),
    ]
    assert whatsapp.sent == []


async def test_typing_needs_a_customer_message_to_attach_to(
    replies, records, whatsapp, history, inbound
):
    typing = records.parse(records.event("typing"))
    history.add(inbound.messages(inbound.wire("unsupported", id_="wamid.SYS"))[0])

    assert await replies.handle(typing, "dedup") == DONE
    assert whatsapp.reads == []

    # Nothing was shown, so the interval did not start: the next typing shows at once.
    history.add(inbound.text("Hello", id_="wamid.IN1", seconds=-30))
    await replies.handle(typing, "dedup")
    assert [(r.message_id, r.typing) for r in whatsapp.reads] == [("wamid.IN1", True)]


async def test_typing_indicators_can_be_switched_off(
    make_replies, records, whatsapp, history, inbound
):
    history.add(inbound.text("Hello", id_="wamid.IN1", seconds=-30))

    await make_replies(typing_indicators=False).handle(
        records.parse(records.event("typing")), "dedup"
    )

    assert whatsapp.reads == []


async def test_an_agent_read_marks_the_last_reactable_customer_message_before_it(
    make_replies, records, whatsapp, history, inbound
):
    history.add(
        inbound.text("Hello", id_="wamid.IN1", seconds=-60),
        inbound.text("my order P12345", id_="wamid.IN2", seconds=-30),
        *inbound.messages(
            inbound.wire(
                "reaction",
                id_="wamid.IN3",
                seconds=-20,
                reaction={"message_id": "x", "emoji": "👍"},
            )
        ),
        inbound.text("still there?", id_="wamid.IN4", seconds=30),  # after the read
    )
    read = records.parse(
        records.event("message.read", seconds=0, Content=json.dumps({"messageId": "c-2"}))
    )

    assert await make_replies(mark_read_on_agent_read=True).handle(read, "dedup") == DONE

    assert [(r.message_id, r.typing) for r in whatsapp.reads] == [("wamid.IN2", False)]


@pytest.mark.parametrize(
    ("options", "suffix", "role"),
    [
        ({}, "message.read", "AGENT"),  # the policy is not on_agent_read
        ({"mark_read_on_agent_read": True}, "message.read", "CUSTOMER"),  # our own echo
        ({"mark_read_on_agent_read": True}, "message.delivered", "AGENT"),
    ],
)
async def test_other_receipts_mark_nothing_read(
    *, make_replies, records, whatsapp, history, inbound, options, suffix, role
):
    history.add(inbound.text("Hello", id_="wamid.IN1", seconds=-60))
    receipt = records.parse(records.event(suffix, role=role, seconds=0))

    assert await make_replies(**options).handle(receipt, "dedup") == DONE

    assert whatsapp.reads == []


# ---------------------------------------------------------------- the chat's lifecycle

CLOSING = "Thanks for writing to us. This chat is closed."


async def test_chat_ended_sends_the_closing_message_and_deletes_the_session(
    *, make_replies, records, whatsapp, claims, sessions, session
):
    ended = records.parse(records.event("chat.ended", item_id="end-1", role="SYSTEM"))

    assert await make_replies(closing_message=CLOSING).handle(ended, "dedup") == DONE

    [sent] = whatsapp.sent
    assert sent.message == _claimed(_text(CLOSING), "end-1#closing")
    assert claims.whatsapp_message_id("end-1#closing") == sent.whatsapp_message_id
    assert sessions.deleted == [(session.customer_key, session.initial_contact_id)]
    assert session.customer_key not in sessions.by_customer


async def test_a_closing_message_already_sent_is_not_sent_again(
    *, make_replies, records, whatsapp, claims, sessions, session
):
    # Another worker sent the goodbye and died before deleting the session.
    await claims.claim("end-1#closing")
    await claims.complete("end-1#closing", whatsapp_message_id="wamid.BYE")
    ended = records.parse(records.event("chat.ended", item_id="end-1", role="SYSTEM"))

    assert await make_replies(closing_message=CLOSING).handle(ended, "dedup") == DONE

    assert whatsapp.attempts == 0
    assert session.customer_key not in sessions.by_customer


async def test_a_closing_message_whatsapp_refuses_does_not_keep_the_session(
    *, make_replies, records, whatsapp, claims, sessions, session
):
    whatsapp.fail("send", WhatsAppSendError("window closed", meta_code=131047))
    ended = records.parse(records.event("chat.ended", item_id="end-1", role="SYSTEM"))

    assert await make_replies(closing_message=CLOSING).handle(ended, "dedup") == DONE

    assert claims.state("end-1#closing") == claims.COMPLETE
    assert session.customer_key not in sessions.by_customer


async def test_chat_ended_without_a_closing_message_only_deletes_the_session(
    *, replies, records, whatsapp, claims, sessions, session
):
    ended = records.parse(records.event("chat.ended", role="SYSTEM"))

    assert await replies.handle(ended, "dedup") == DONE

    assert whatsapp.attempts == 0
    assert claims.operations == []
    assert session.customer_key not in sessions.by_customer


async def test_participant_left_keeps_the_session_for_the_disconnect_flow(
    replies, records, whatsapp, sessions, session
):
    left = records.parse(records.event("participant.left", role="AGENT"))

    assert await replies.handle(left, "dedup") == DONE

    assert sessions.deleted == []
    assert await replies.handle(records.parse(records.text("from the flow")), "d") == DONE
    assert whatsapp.bodies == ["from the flow"]


# ---------------------------------------------------------------- no session


async def test_content_of_a_young_chat_without_a_session_yet_is_retried(
    *, replies, records, whatsapp, sessions, claims, session
):
    sessions.by_customer.clear()
    sessions.contacts.clear()
    event = records.parse(records.text("Hello", seconds=2.5))  # 2.5 s old

    outcome = await replies.handle(event, "dedup-1")

    assert outcome == Outcome(Settle.RETRY, "no session yet", 2.0)
    assert claims.operations == []
    # The inbound side stores the session; the retry delivers.
    sessions.add(session)
    assert await replies.handle(event, "dedup-1") == DONE
    assert whatsapp.bodies == ["Hello"]


async def test_content_without_a_session_past_the_grace_is_dropped_and_counted(
    replies, records, whatsapp, sessions, registry
):
    sessions.by_customer.clear()
    sessions.contacts.clear()
    event = records.parse(records.text("Hello", seconds=-600))  # 10 minutes old

    assert await replies.handle(event, "dedup-1") == DONE

    assert whatsapp.attempts == 0
    assert _events(registry, "message", "no_session") == 1.0


async def test_the_session_grace_is_measured_on_the_clock(replies, records, sessions, clock):
    sessions.by_customer.clear()
    sessions.contacts.clear()
    event = records.parse(records.text("Hello", seconds=2.5))
    assert (await replies.handle(event, "dedup-1")).settle is Settle.RETRY

    clock.tick(60)  # 62.5 s after the event: past the 60 s grace

    assert await replies.handle(event, "dedup-1") == DONE


# ---------------------------------------------------------------- findings


async def test_a_refusal_note_that_failed_once_reaches_the_agent_on_the_retry(
    replies, records, whatsapp, chat
):
    # The retry sends again (nothing was sent, and the agent was not told yet); a permanent
    # refusal is refused again, and this time the note gets through.
    refusal = WhatsAppSendError("undeliverable", meta_code=131026)
    whatsapp.fail("send", refusal, refusal)
    chat.fail("note", RefusedAfterReconnectError("refused right after a reconnect"))
    event = records.parse(records.text("Hello"))

    assert (await replies.handle(event, "dedup-1")).settle is Settle.RETRY
    assert (await replies.handle(event, "dedup-1")).settle is Settle.DONE

    assert chat.notes
    assert whatsapp.sent == []


# ---------------------------------------------------------------- the bridge's own voice


async def test_the_bridges_own_notes_never_reach_whatsapp_but_other_bots_do(
    replies, records, whatsapp, sessions, session
):
    sessions.add(dataclasses.replace(session, bot_participant_id="9a8b0000"))
    own = records.parse(records.text("⚠️ Not delivered", item_id="note-1", role="CUSTOM_BOT"))
    assert own.participant_id == "9a8b0000"

    assert await replies.handle(own, "dedup-1") == DONE
    assert whatsapp.sent == []

    lex = records.parse(
        records.text("Hello from Lex", item_id="lex-1", role="CUSTOM_BOT")
    ).model_copy(update={"participant_id": "lex-participant"})
    assert await replies.handle(lex, "dedup-2") == DONE
    assert whatsapp.bodies == ["Hello from Lex"]


# ---------------------------------------------------------------- the 24-hour window


async def test_outside_the_window_the_agent_is_told_and_nothing_is_sent(
    make_replies, records, *, whatsapp, chat, sessions, session, clock
):
    last = int(clock.time()) - 25 * 3600
    sessions.add(dataclasses.replace(session, last_customer_message_at=last))
    replies = make_replies()
    event = records.parse(records.text("Are you still there?", item_id="late-1"))

    assert await replies.handle(event, "dedup-1") == DONE
    assert await replies.handle(event, "dedup-1") == DONE  # redelivered

    assert whatsapp.sent == []
    [note] = chat.notes
    assert note.text.startswith("⏰ Not sent to WhatsApp: the customer's 24-hour window closed")
    closed = datetime.fromtimestamp(last + 24 * 3600, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert closed in note.text
    assert "writes again" in note.text


async def test_inside_the_window_or_with_the_send_policy_the_text_goes_out(
    make_replies, records, *, whatsapp, chat, sessions, session, clock
):
    sessions.add(
        dataclasses.replace(session, last_customer_message_at=int(clock.time()) - 23 * 3600)
    )
    await make_replies().handle(records.parse(records.text("still open", item_id="a")), "d-a")
    sessions.add(
        dataclasses.replace(session, last_customer_message_at=int(clock.time()) - 25 * 3600)
    )
    blind = make_replies(window_closed="send")
    await blind.handle(records.parse(records.text("sent anyway", item_id="b")), "d-b")

    assert whatsapp.bodies == ["still open", "sent anyway"]
    assert chat.notes == []
