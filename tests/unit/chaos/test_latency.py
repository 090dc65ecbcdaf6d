"""Latency by phase of the fault: before, during, after."""

from __future__ import annotations

from bench.chaos.checker import Arrival, Sent
from bench.chaos.latency import by_phase


def test_latency_is_split_by_when_the_message_was_sent():
    sent = [Sent("a", "c", 0, at=1.0), Sent("b", "c", 1, at=5.0), Sent("c", "c", 2, at=9.0)]
    arrivals = [Arrival("a", 2.0, (2.0,)), Arrival("b", 8.0, (8.0,)), Arrival("c", 9.5, (9.5,))]
    phases = by_phase(sent, arrivals, start=4.0, end=6.0)
    assert phases["before"]["p50_s"] == 1.0
    assert phases["during"]["max_s"] == 3.0
    assert phases["after"]["messages"] == 1
