"""Recovery time: how long a fault's after-effects hold messages back.

`backlog_s`, the recovery time the campaigns print: from the end of the fault until the
last message that was sent *before* the fault ended first arrived. It is 0 when every such
message had arrived by then. Messages that never arrived are not in it (they are lost,
and counted as such). It includes the normal latency of a message sent just before the
end (the quiet window, a few hundred ms of transport), so a few seconds is the floor; a
killed worker's SQS message coming back after the queue's visibility timeout shows up as
that timeout.

`resumed_s`: from the end of the fault until the first arrival of anything after it
(the system delivering again at all). With survivors still delivering, it is near 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.chaos.checker import Arrival, Sent, first_arrivals


@dataclass(frozen=True, slots=True)
class Recovery:
    backlog_s: float
    resumed_s: float | None


def recovery(sent: Sequence[Sent], arrivals: Sequence[Arrival], fault_end: float) -> Recovery:
    first = first_arrivals(arrivals)
    backlog = [
        first[m.marker].at
        for m in sent
        if m.at < fault_end and m.marker in first and first[m.marker].at >= fault_end
    ]
    later = [arrival.at for arrival in first.values() if arrival.at >= fault_end]
    return Recovery(
        backlog_s=max(backlog) - fault_end if backlog else 0.0,
        resumed_s=min(later) - fault_end if later else None,
    )
