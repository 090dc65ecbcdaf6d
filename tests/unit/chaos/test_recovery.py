"""Recovery time: fault end → the last arrival of a message sent before it."""

from __future__ import annotations

import pytest

from bench.chaos.checker import Arrival, Sent
from bench.chaos.recovery import recovery


def test_backlog_is_the_last_arrival_of_what_was_sent_before_the_fault_ended():
    sent = [Sent("a", "c", 0, at=10.0), Sent("b", "c", 1, at=19.0), Sent("c", "c", 2, at=25.0)]
    arrivals = [
        Arrival("a", 12.0, (12.0,)),
        Arrival("b", 51.0, (51.0,)),
        Arrival("c", 27.0, (27.0,)),
    ]
    result = recovery(sent, arrivals, fault_end=20.0)
    assert result.backlog_s == pytest.approx(31.0)  # b, sent at 19, arrived at 51
    assert result.resumed_s == pytest.approx(7.0)  # c arrived at 27


def test_nothing_held_back_is_zero_and_lost_messages_do_not_count():
    sent = [Sent("a", "c", 0, at=10.0), Sent("lost", "c", 1, at=11.0)]
    result = recovery(sent, [Arrival("a", 12.0, (12.0,))], fault_end=20.0)
    assert result.backlog_s == 0.0
    assert result.resumed_s is None


def test_a_duplicate_arriving_late_does_not_extend_recovery():
    sent = [Sent("a", "c", 0, at=10.0)]
    arrivals = [Arrival("a", 21.0, (21.0,)), Arrival("a", 80.0, (80.0,))]
    assert recovery(sent, arrivals, fault_end=20.0).backlog_s == pytest.approx(1.0)
