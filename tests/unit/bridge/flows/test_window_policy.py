"""Issue 13 rows 2-3 in the reply flow: the `template` policy holds the agent's messages
behind one re-engagement template and delivers them in order when the customer is back;
`/templates` and `/template` are answered by the bridge, never forwarded."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from service.bridge.events.connect import AgentItem
from service.bridge.events.templates import Template, parse_definition
from service.bridge.events.transport import DONE, Settle
from service.bridge.flows.templates import Reengagement, TemplateSends
from service.errors import WhatsAppSendError

REENGAGE = parse_definition(
    {
        "name": "reengage",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Hello {{1}}, {{2}} replied. Reply to continue."}],
    }
)
ORDER = parse_definition(
    {
        "name": "order_update",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
            {"type": "BODY", "text": "Your order {{1}} is {{2}}."},
        ],
    }
)


class FakeCatalog:
    def __init__(self, *templates: Template) -> None:
        self.list = list(templates)
        self.reads = 0

    async def templates(self, origination_id: str) -> list[Template]:
        assert origination_id
        self.reads += 1
        return self.list


@pytest.fixture
def catalog() -> FakeCatalog:
    return FakeCatalog(REENGAGE, ORDER)


@pytest.fixture
def policy(make_replies, catalog, *, sessions, session, clock):
    """Replies under the template policy, for a chat whose window closed an hour ago."""
    sessions.add(
        dataclasses.replace(session, last_customer_message_at=int(clock.time()) - 25 * 3600)
    )
    templates = TemplateSends(
        catalog=catalog,
        reengagement=Reengagement("reengage", "en_US", ("{customer_name}", "{agent_name}")),
    )

    def make(**options: Any):
        options = {"window_closed": "template", "held_max_messages": 3, **options}
        return make_replies(templates=templates, **options)

    return make


@pytest.fixture
def item(records, session):
    """An agent's text as it travels the customer's lane."""

    def make(text: str, item_id: str, seconds: float = 2.5) -> AgentItem:
        payload = records.text(text, item_id=item_id, seconds=seconds)
        return AgentItem.of(
            customer_key=session.customer_key, key=item_id, payload=payload, attributes={}
        )

    return make


async def test_closed_window_sends_one_template_and_holds_the_texts_in_order(
    policy, item, *, whatsapp, chat, sessions, session, clock
):
    replies = policy()
    first, second = item("One", "a-1"), item("Two", "a-2", 3.0)

    assert await replies.handle_item(first) == DONE
    assert await replies.handle_item(second) == DONE
    assert await replies.handle_item(first) == DONE  # redelivered: held once

    [template] = whatsapp.sent
    assert template.type == "template"
    parameters = template.message["template"]["components"][0]["parameters"]
    assert [p["text"] for p in parameters] == ["Ana", "Luis"]
    held = sessions.by_customer[session.customer_key].held
    assert [h.key for h in held] == ["a-1", "a-2"]
    notes = [n.text for n in chat.notes]
    assert notes[0].startswith("⏸ Held (1 of at most 3)")
    assert "reengage" in notes[0]
    assert notes[1].startswith("⏸ Held (2 of at most 3)")
    assert len(notes) == 2

    # The customer writes again: the window is open, the held texts go out in order.
    sessions.add(
        dataclasses.replace(
            sessions.by_customer[session.customer_key],
            last_customer_message_at=int(clock.time()),
        )
    )
    await replies.after_customer_wrote(session.customer_key)
    assert whatsapp.bodies == [None, "One", "Two"]  # the template, then the texts
    assert sessions.by_customer[session.customer_key].held == ()
    assert await replies.release_held(session.customer_key)  # again: nothing twice
    assert whatsapp.bodies == [None, "One", "Two"]  # the template, then the texts


async def test_a_new_message_after_the_reply_waits_for_the_held_ones(
    policy, item, *, whatsapp, sessions, session, clock
):
    replies = policy()
    await replies.handle_item(item("Held", "h-1"))
    sessions.add(
        dataclasses.replace(
            sessions.by_customer[session.customer_key],
            last_customer_message_at=int(clock.time()),
        )
    )
    assert await replies.handle_item(item("After", "n-1", 9.0)) == DONE
    assert whatsapp.bodies == [None, "Held", "After"]


async def test_beyond_the_limit_the_agent_is_told_it_was_not_held(
    policy, item, *, whatsapp, chat, sessions, session
):
    replies = policy()
    for number in range(4):
        await replies.handle_item(item(f"m{number}", f"m-{number}", 2.5 + number))
    assert len(sessions.by_customer[session.customer_key].held) == 3
    assert chat.notes[-1].text.startswith("⏰ Not sent to WhatsApp: 3 messages are already")
    assert [s.type for s in whatsapp.sent] == ["template"]


async def test_held_messages_that_wait_too_long_are_reported_and_dropped(
    policy, item, *, whatsapp, chat, sessions, session, clock
):
    replies = policy(held_ttl_s=60.0)
    await replies.handle_item(item("Still there?", "e-1"))
    assert not await replies.release_held(session.customer_key)  # too early, window closed
    await clock.advance(61)
    assert not await replies.release_held(session.customer_key)
    assert chat.notes[-1].text.startswith("⌛ Not delivered: 1 held message")
    assert sessions.by_customer[session.customer_key].held == ()
    assert [s.type for s in whatsapp.sent] == ["template"]


async def test_without_a_usable_template_the_agent_is_told_and_nothing_is_held(
    policy, item, catalog, *, whatsapp, chat, sessions, session
):
    catalog.list = [ORDER]
    replies = policy()
    assert await replies.handle_item(item("Hi", "x-1")) == DONE
    assert whatsapp.sent == []
    assert sessions.by_customer[session.customer_key].held == ()
    assert "no template called reengage" in chat.notes[0].text


async def test_the_agent_lists_templates_and_nothing_reaches_the_customer(
    policy, item, *, whatsapp, chat
):
    replies = policy(window_closed="note")
    assert await replies.handle_item(item("/templates", "c-1")) == DONE
    assert whatsapp.sent == []
    [note] = chat.notes
    assert "reengage (en_US, utility): 2 parameters" in note.text
    assert "order_update (en_US, utility): 3 parameters" in note.text


async def test_a_wrong_parameter_count_is_a_note_and_a_right_one_one_send(
    policy, item, *, whatsapp, chat, sessions, session
):
    replies = policy()
    await replies.handle_item(item("/template order_update A-1 | shipped", "t-1"))
    assert whatsapp.sent == []
    assert "takes 3 parameters, you gave 2" in chat.notes[-1].text

    right = item("/template order_update en_US A-1 | A-1 | shipped", "t-2")
    assert await replies.handle_item(right) == DONE
    assert await replies.handle_item(right) == DONE  # replay: sent once
    [sent] = whatsapp.sent
    assert sent.message["template"]["name"] == "order_update"
    assert chat.notes[-1].text.startswith("✅ Template order_update sent")
    # Sent while the window was closed: it is this closure's re-engagement.
    assert sessions.by_customer[session.customer_key].reengage_template == "order_update"
    await replies.handle_item(item("Held after it", "t-3", 4.0))
    assert len(whatsapp.sent) == 1
    assert [h.key for h in sessions.by_customer[session.customer_key].held] == ["t-3"]


async def test_the_template_send_is_retried_not_lost_when_paced(
    policy, item, *, whatsapp, sessions, session, pacer
):
    replies = policy()
    for _ in range(50):
        pacer.reserve(session.business_phone_number_id, session.customer_key)
    outcome = await replies.handle_item(item("Hi", "p-1"))
    assert outcome.settle is Settle.RETRY
    assert sessions.by_customer[session.customer_key].held == ()


async def test_a_refused_reengagement_holds_nothing_and_says_so_each_time(
    policy, item, *, whatsapp, chat, sessions, session
):
    whatsapp.fail("send", WhatsAppSendError("(#132001) template does not exist", meta_code=132001))
    replies = policy()
    assert await replies.handle_item(item("First", "r-1")) == DONE
    assert await replies.handle_item(item("Second", "r-2", 3.0)) == DONE
    assert whatsapp.sent == []
    assert sessions.by_customer[session.customer_key].held == ()
    refused = [n.text for n in chat.notes if "could not be sent (WhatsApp refused it)" in n.text]
    assert len(refused) == 2  # each message's fate is told, not only the first
