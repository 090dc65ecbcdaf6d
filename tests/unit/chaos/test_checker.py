"""The chaos checker's definitions of lost, doubled and out of order, on hand-made inputs."""

from __future__ import annotations

from bench.chaos.checker import Arrival, Sent, check, first_arrivals


def sent(stream: str, *markers: str, certain: bool = True) -> list[Sent]:
    return [Sent(m, stream, seq, at=float(seq), certain=certain) for seq, m in enumerate(markers)]


def arrived(*markers: str) -> list[Arrival]:
    """Arrivals in the given order, one second apart."""
    return [Arrival(m, 100.0 + i, (float(i),)) for i, m in enumerate(markers)]


def test_everything_once_and_in_order_is_clean():
    tally = check(sent("c1", "a", "b", "c"), arrived("a", "b", "c"))
    assert tally.sent == 3
    assert tally.lost == tally.doubled == tally.out_of_order == tally.unexpected == ()


def test_a_message_that_never_arrives_is_lost():
    tally = check(sent("c1", "a", "b", "c"), arrived("a", "c"))
    assert tally.lost == ("b",)
    assert tally.out_of_order == ()


def test_a_message_that_arrives_twice_is_doubled_once():
    tally = check(sent("c1", "a", "b"), arrived("a", "b", "a", "a"))
    assert tally.doubled == ("a",)
    assert tally.lost == ()


def test_a_message_overtaken_by_a_later_one_is_out_of_order():
    # Sent 1 2 3, arrived 2 3 1: only 1 came after something written later.
    tally = check(sent("c1", "m1", "m2", "m3"), arrived("m2", "m3", "m1"))
    assert tally.out_of_order == ("m1",)
    assert tally.lost == tally.doubled == ()


def test_every_message_behind_a_later_one_counts():
    # Arrived 3 1 2: 1 and 2 each arrived after 3.
    tally = check(sent("c1", "m1", "m2", "m3"), arrived("m3", "m1", "m2"))
    assert tally.out_of_order == ("m1", "m2")


def test_order_is_per_stream_not_across_streams():
    messages = sent("alice", "a1", "a2") + sent("bob", "b1", "b2")
    tally = check(messages, arrived("b1", "a1", "b2", "a2"))
    assert tally.out_of_order == ()
    tally = check(messages, arrived("a2", "b1", "a1", "b2"))
    assert tally.out_of_order == ("a1",)


def test_only_the_first_arrival_decides_order_a_late_duplicate_is_only_doubled():
    tally = check(sent("c1", "m1", "m2"), arrived("m1", "m2", "m1"))
    assert tally.out_of_order == ()
    assert tally.doubled == ("m1",)


def test_an_uncertain_send_is_never_lost_but_is_checked_when_it_arrives():
    messages = [*sent("c1", "m1"), Sent("m2", "c1", 1, 1.0, certain=False)]
    assert check(messages, arrived("m1")).lost == ()
    assert check(messages, arrived("m1")).sent == 1
    tally = check(messages, arrived("m2", "m2", "m1"))
    assert tally.doubled == ("m2",)
    assert tally.out_of_order == ("m1",)


def test_a_marker_nobody_sent_is_unexpected():
    assert check(sent("c1", "m1"), arrived("m1", "zz")).unexpected == ("zz",)


def test_positions_not_list_order_decide_arrival_order():
    arrivals = [Arrival("m2", 5.0, (2.0,)), Arrival("m1", 4.0, (1.0,))]
    assert check(sent("c1", "m1", "m2"), arrivals).out_of_order == ()
    assert first_arrivals([*arrivals, Arrival("m1", 9.0, (0.5,))])["m1"].at == 9.0


def test_a_message_behind_a_later_one_that_says_it_came_late_is_counted_apart():
    # DESIGN §5.4: after its burst was delivered, a late message is marked, not reordered.
    arrivals = arrived("m2", "m3", "m1")
    arrivals[2] = Arrival("m1", arrivals[2].at, arrivals[2].position, marked_late=True)
    tally = check(sent("c1", "m1", "m2", "m3"), arrivals)
    assert tally.out_of_order == ()
    assert tally.late_marked == ("m1",)


def test_a_late_mark_on_a_message_that_is_not_behind_anything_counts_nowhere():
    arrivals = [Arrival(m, 100.0 + i, (float(i),), marked_late=True) for i, m in enumerate("ab")]
    tally = check(sent("c1", "a", "b"), arrivals)
    assert tally.out_of_order == tally.late_marked == ()
