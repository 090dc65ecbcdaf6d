"""Delivery latency by phase (before, during, after the fault), for reading the numbers.

A long recovery on a machine that was already slow before the fault means something else
than on one that delivered in seconds; the JSON report carries these next to it. Latency
is from the sandbox accepting a message to its first arrival; lost ones are not in it.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.chaos.checker import Arrival, Sent, first_arrivals


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def by_phase(
    sent: Sequence[Sent], arrivals: Sequence[Arrival], start: float, end: float
) -> dict[str, dict[str, float]]:
    first = first_arrivals(arrivals)
    phases: dict[str, list[float]] = {"before": [], "during": [], "after": []}
    for message in sent:
        arrival = first.get(message.marker)
        if arrival is None:
            continue
        phase = "before" if message.at < start else "during" if message.at <= end else "after"
        phases[phase].append(arrival.at - message.at)
    report: dict[str, dict[str, float]] = {}
    for phase, values in phases.items():
        if values:
            ordered = sorted(values)
            report[phase] = {
                "messages": len(ordered),
                "p50_s": round(_percentile(ordered, 0.5), 2),
                "p90_s": round(_percentile(ordered, 0.9), 2),
                "max_s": round(ordered[-1], 2),
            }
    return report
