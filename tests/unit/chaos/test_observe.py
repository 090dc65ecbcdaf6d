"""Reading arrivals out of the simulator's transcripts and WhatsApp outbox."""

from __future__ import annotations

from typing import Any

from bench.chaos.checker import Sent, check
from bench.chaos.markers import find_markers, inbound_marker, outbound_marker
from bench.chaos.observe import inbound_arrivals, live_chats, outbound_arrivals


def item(role: str, content: str, time: str, content_type: str = "text/plain") -> dict[str, Any]:
    return {"participantRole": role, "contentType": content_type, "content": content, "time": time}


def contact(
    contact_id: str, *items: dict[str, Any], ended: bool = False, streaming: bool = True
) -> dict[str, Any]:
    return {
        "contactId": contact_id,
        "startedAt": items[0]["time"] if items else "2026-01-01T00:00:00.000Z",
        "endedAt": "2026-01-01T00:09:00.000Z" if ended else None,
        "streaming": [{"active": streaming}],
        "transcript": list(items),
    }


def test_markers_never_match_a_prefix_of_another():
    one, eleven = inbound_marker(1, 1), inbound_marker(1, 11)
    assert find_markers(f"{one}\n{eleven} and xx{one}") == [one, eleven]
    assert find_markers("ODD00012 emoji 👩") == ["ODD00012"]


def test_an_aggregated_burst_counts_each_line_and_agent_items_are_ignored():
    m0, m1, m2 = (inbound_marker(3, n) for n in range(3))
    reply = outbound_marker(3, 0)
    contacts = [
        contact(
            "k1",
            item("CUSTOMER", f"{m0} hello\n{m1} help", "2026-01-01T00:00:01.000Z"),
            item("AGENT", f"{reply} {m2}", "2026-01-01T00:00:02.000Z"),
            item("CUSTOMER", f"{m2}", "2026-01-01T00:00:03.000Z"),
            item("CUSTOMER", f"{m1}", "2026-01-01T00:00:04.000Z", content_type="text/markdown"),
        )
    ]
    arrivals = inbound_arrivals(contacts)
    assert [a.marker for a in arrivals] == [m0, m1, m2]
    sent = [Sent(m, "in:3", n, 0.0) for n, m in enumerate((m0, m1, m2))]
    assert check(sent, arrivals).out_of_order == ()


def test_a_customer_across_two_chats_is_ordered_by_item_time():
    m0, m1 = inbound_marker(4, 0), inbound_marker(4, 1)
    contacts = [
        contact("new", item("CUSTOMER", m0, "2026-01-01T00:00:09.000Z")),
        contact("old", item("CUSTOMER", m1, "2026-01-01T00:00:05.000Z"), ended=True),
    ]
    sent = [Sent(m0, "in:4", 0, 0.0), Sent(m1, "in:4", 1, 0.0)]
    # m1 reached Connect (in the older chat) four seconds before m0: reported.
    assert check(sent, inbound_arrivals(contacts)).out_of_order == (m0,)
    assert live_chats(contacts) == {4: "new"}


def test_outbox_order_is_send_order_and_only_text_bodies_count():
    r0, r1 = outbound_marker(2, 0), outbound_marker(2, 1)
    outbox = [
        {"time": "2026-01-01T00:00:01.000Z", "message": {"type": "reaction", "reaction": {}}},
        {"time": "2026-01-01T00:00:02.000Z", "message": {"type": "text", "text": {"body": r1}}},
        {"time": "2026-01-01T00:00:02.000Z", "message": {"type": "text", "text": {"body": r0}}},
        {"time": "2026-01-01T00:00:03.000Z", "message": {"type": "text", "text": {"body": r1}}},
    ]
    arrivals = outbound_arrivals(outbox)
    sent = [Sent(r0, "out:k", 0, 0.0), Sent(r1, "out:k", 1, 0.0)]
    tally = check(sent, arrivals)
    assert tally.out_of_order == (r0,)
    assert tally.doubled == (r1,)


def test_a_chat_is_answerable_only_once_its_streaming_is_on():
    m0 = inbound_marker(5, 0)
    started = contact("k5", item("CUSTOMER", m0, "2026-01-01T00:00:01.000Z"), streaming=False)
    assert live_chats([started]) == {}
    started["streaming"] = [{"active": True}]
    assert live_chats([started]) == {5: "k5"}


def test_a_message_under_the_bridges_late_line_is_marked_late_and_only_it():
    m0, m1, m2 = (inbound_marker(4, n) for n in range(3))
    contacts = [
        contact(
            "k1",
            item("CUSTOMER", f"{m0} hi\n{m2} there", "2026-01-01T00:00:01.000Z"),
            item(
                "CUSTOMER",
                f"⏱ sent 10:14:05 UTC, arrived late:\n{m1} P12345\n{m2} again?",
                "2026-01-01T00:00:05.000Z",
            ),
        )
    ]
    arrivals = inbound_arrivals(contacts)
    assert [(a.marker, a.marked_late) for a in arrivals] == [
        (m0, False),
        (m2, False),
        (m1, True),
        (m2, False),
    ]
    tally = check([Sent(m, "in:4", n, 0.0) for n, m in enumerate((m0, m1, m2))], arrivals)
    assert tally.out_of_order == ()
    assert tally.late_marked == (m1,)
