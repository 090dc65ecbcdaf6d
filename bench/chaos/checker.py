"""The invariant checker: loss, duplication and order, from what was sent and what arrived.

Pure functions over plain records, so they are unit-tested with hand-made inputs
(tests/unit/chaos). Definitions:

- lost: a message sent for certain whose marker never arrived.
- doubled: a message whose marker arrived more than once.
- out of order: a message that arrived after a message its sender wrote *later* in the
  same stream (one customer inbound, one chat outbound). Only each marker's first
  arrival counts for order; repeats are already counted as doubled. Sent 1 2 3,
  arrived 2 3 1: one out of order (1). Arrived 3 1 2: two (1 and 2 each came after 3).
- late, said so: such a message whose arrival says it came late (the bridge's "⏱ sent …,
  arrived late" line before it, DESIGN §5.4: a message SQS brings back after its burst
  was delivered). Counted apart, not as out of order; an unmarked one is out of order.
- unexpected: a marker that arrived but was never sent (a checker or harness bug if > 0).

A send whose outcome is unknown (the sandbox API call failed or timed out, so the message
may or may not have been published) is `certain=False`: it is never counted as lost, but
if it arrives it is checked for duplication and order like any other.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sent:
    marker: str
    # Whose order it belongs to: one customer (inbound) or one chat (outbound).
    stream: str
    # Its place in that sender's order.
    seq: int
    # When the sandbox accepted it (epoch seconds).
    at: float
    certain: bool = True


@dataclass(frozen=True, slots=True)
class Arrival:
    marker: str
    # When it reached its destination (epoch seconds).
    at: float
    # Sorts arrivals at the destination in the order the recipient saw them.
    position: tuple[float, ...]
    # The arrival says it came late (inbound: the bridge's late line right before it).
    marked_late: bool = False


@dataclass(frozen=True, slots=True)
class Tally:
    sent: int
    lost: tuple[str, ...]
    doubled: tuple[str, ...]
    out_of_order: tuple[str, ...]
    unexpected: tuple[str, ...]
    late_marked: tuple[str, ...] = ()


def first_arrivals(arrivals: Iterable[Arrival]) -> dict[str, Arrival]:
    """Each marker's earliest arrival (by position)."""
    first: dict[str, Arrival] = {}
    for arrival in arrivals:
        known = first.get(arrival.marker)
        if known is None or arrival.position < known.position:
            first[arrival.marker] = arrival
    return first


def _behind(sent: Sequence[Sent], first: dict[str, Arrival]) -> list[str]:
    streams: dict[str, list[tuple[tuple[float, ...], int, str]]] = defaultdict(list)
    for message in sent:
        arrival = first.get(message.marker)
        if arrival is not None:
            streams[message.stream].append((arrival.position, message.seq, message.marker))
    late: list[str] = []
    for arrived in streams.values():
        highest_seq_so_far = -1
        for _, seq, marker in sorted(arrived):
            if seq < highest_seq_so_far:
                late.append(marker)
            highest_seq_so_far = max(highest_seq_so_far, seq)
    return late


def check(sent: Sequence[Sent], arrivals: Sequence[Arrival]) -> Tally:
    counts = Counter(arrival.marker for arrival in arrivals)
    known = {message.marker for message in sent}
    first = first_arrivals(arrivals)
    behind = _behind(sent, first)
    return Tally(
        sent=sum(1 for message in sent if message.certain),
        lost=tuple(m.marker for m in sent if m.certain and counts[m.marker] == 0),
        doubled=tuple(m.marker for m in sent if counts[m.marker] > 1),
        out_of_order=tuple(m for m in behind if not first[m].marked_late),
        unexpected=tuple(sorted(marker for marker in counts if marker not in known)),
        late_marked=tuple(m for m in behind if first[m].marked_late),
    )
