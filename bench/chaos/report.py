"""A campaign's result: one line for humans, a JSON object for tools.

The line, in this order: campaign, workers, sent (in/out), lost (in/out), doubled
(in/out), out of order (in/out), late messages that said so (in/out, only when there
are any), recovery time, DLQ count with and without the bridge's
reason; then anything that makes the numbers less than the whole truth (sends with an
unknown outcome, a run that never went quiet, a process that crashed, markers nobody
sent), then the fault's own facts. A campaign that could not run or finish says so and
why ("FAILED, no numbers").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.chaos.checker import Tally
from bench.chaos.queues import DeadLetters
from bench.chaos.recovery import Recovery
from bench.chaos.settle import Settled

_LIST_LIMIT = 50  # markers listed per problem in the JSON report
_REASONS_SHOWN = 3  # DLQ reasons named in the line (all of them are in the JSON)


@dataclass(slots=True)
class CampaignResult:
    key: str
    title: str
    workers: int
    took_s: float = 0.0
    # Set when the campaign could not run or finish: the numbers are then absent.
    failure: str | None = None
    inbound: Tally | None = None
    outbound: Tally | None = None
    uncertain: tuple[int, int] = (0, 0)
    recovery: Recovery | None = None
    recovery_by_direction: dict[str, Recovery] = field(default_factory=dict)
    fault_s: float = 0.0
    dlq: dict[str, DeadLetters] = field(default_factory=dict)
    settled: Settled | None = None
    send_errors: dict[str, int] = field(default_factory=dict)
    crashes: list[str] = field(default_factory=list)
    # Internal errors of the embedded AWS itself (not injected; see `Cluster`).
    aws_errors: int = 0
    # Shard leases the workers lost, by reason (from their logs): each one replays.
    leases_lost: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """Ran, settled, and lost and doubled nothing (order and DLQs are reported only)."""
        return (
            self.failure is None
            and self.inbound is not None
            and self.outbound is not None
            and not (self.inbound.lost or self.outbound.lost)
            and not (self.inbound.doubled or self.outbound.doubled)
        )


def _pair(inbound: int, outbound: int) -> str:
    return f"{inbound}/{outbound}"


def _dlq(dlq: dict[str, DeadLetters]) -> str:
    total = sum(d.total for d in dlq.values())
    with_reason = sum(d.with_reason for d in dlq.values())
    reasons: dict[str, int] = {}
    for side, letters in dlq.items():
        for reason, count in letters.reasons.most_common():
            reasons[f"{side}:{reason}"] = count
    top = sorted(reasons.items(), key=lambda kv: -kv[1])[:_REASONS_SHOWN]
    shown = ", ".join(f"{name} {count}" for name, count in top)
    hidden = len(reasons) - len(top)
    more = f", +{hidden} more" if hidden else ""
    detail = f" ({shown}{more})" if shown else ""
    by_side = "/".join(str(dlq[s].total) if s in dlq else "-" for s in ("in", "out"))
    return (
        f"DLQ {total} [{by_side}]: {with_reason} with reason{detail}, {total - with_reason} without"
    )


def line(result: CampaignResult) -> str:
    head = f"[{result.key}] {result.title:<23} workers {result.workers}"
    if result.failure is not None:
        return " | ".join(
            [head, f"FAILED, no numbers: {result.failure}", *result.notes, f"{result.took_s:.0f}s"]
        )
    assert result.inbound is not None
    assert result.outbound is not None
    assert result.recovery is not None
    i, o = result.inbound, result.outbound
    resumed = result.recovery.resumed_s
    recovered = (
        f"recovery {result.recovery.backlog_s:.1f}s (first delivery +{resumed:.1f}s)"
        if resumed is not None
        else "recovery never (nothing delivered after the fault)"
    )
    parts = [
        head,
        f"sent {_pair(i.sent, o.sent)}",
        f"lost {_pair(len(i.lost), len(o.lost))}",
        f"doubled {_pair(len(i.doubled), len(o.doubled))}",
        f"out of order {_pair(len(i.out_of_order), len(o.out_of_order))}",
        *(
            [f"late, said so {_pair(len(i.late_marked), len(o.late_marked))}"]
            if i.late_marked or o.late_marked
            else []
        ),
        recovered,
        _dlq(result.dlq),
    ]
    if any(result.uncertain):
        parts.append(f"unknown-outcome sends {_pair(*result.uncertain)}")
    if result.settled is not None and not result.settled.quiet:
        parts.append(f"NOT SETTLED: {result.settled.pending.describe()}")
    if result.crashes:
        counted = Counter(result.crashes)
        parts.append(
            f"CRASHED {len(result.crashes)}x: "
            + ", ".join(f"{what} x{n}" for what, n in counted.most_common())
        )
    if result.leases_lost:
        reasons = ", ".join(f"{reason} {n}" for reason, n in result.leases_lost.items())
        parts.append(f"leases lost {sum(result.leases_lost.values())} ({reasons})")
    if result.aws_errors:
        parts.append(f"embedded AWS 500s {result.aws_errors} (not injected)")
    if i.unexpected or o.unexpected:
        parts.append(f"UNEXPECTED markers {_pair(len(i.unexpected), len(o.unexpected))}")
    if result.send_errors:
        parts.append("send errors " + ", ".join(f"{k} {v}" for k, v in result.send_errors.items()))
    parts += result.notes
    parts.append(f"{result.took_s:.0f}s")
    return " | ".join(parts)


def _tally(tally: Tally | None) -> dict[str, Any] | None:
    if tally is None:
        return None
    return {
        "sent": tally.sent,
        "lost": len(tally.lost),
        "doubled": len(tally.doubled),
        "out_of_order": len(tally.out_of_order),
        "unexpected": len(tally.unexpected),
        "late_marked": len(tally.late_marked),
        "lost_markers": list(tally.lost[:_LIST_LIMIT]),
        "doubled_markers": list(tally.doubled[:_LIST_LIMIT]),
        "out_of_order_markers": list(tally.out_of_order[:_LIST_LIMIT]),
        "unexpected_markers": list(tally.unexpected[:_LIST_LIMIT]),
        "late_marked_markers": list(tally.late_marked[:_LIST_LIMIT]),
    }


def _recovery(recovery: Recovery | None) -> dict[str, float | None] | None:
    if recovery is None:
        return None
    return {"backlog_s": recovery.backlog_s, "resumed_s": recovery.resumed_s}


def to_json(result: CampaignResult) -> dict[str, Any]:
    settled = result.settled
    return {
        "campaign": result.key,
        "title": result.title,
        "workers": result.workers,
        "ran": result.failure is None,
        "failure": result.failure,
        "clean": result.clean,
        "line": line(result),
        "took_s": round(result.took_s, 1),
        "fault_s": round(result.fault_s, 1),
        "inbound": _tally(result.inbound),
        "outbound": _tally(result.outbound),
        "unknown_outcome_sends": {"in": result.uncertain[0], "out": result.uncertain[1]},
        "recovery": _recovery(result.recovery),
        "recovery_by_direction": {
            side: _recovery(value) for side, value in result.recovery_by_direction.items()
        },
        "dlq": {
            side: {
                "total": letters.total,
                "with_reason": letters.with_reason,
                "without_reason": letters.without_reason,
                "reasons": dict(letters.reasons),
            }
            for side, letters in result.dlq.items()
        },
        "settled": None
        if settled is None
        else {
            "quiet": settled.quiet,
            "waited_s": round(settled.waited_s, 1),
            "pending": settled.pending.describe(),
            "trace": [list(step) for step in settled.trace],
        },
        "send_errors": result.send_errors,
        "crashes": result.crashes,
        "embedded_aws_errors": result.aws_errors,
        "leases_lost": result.leases_lost,
        "notes": result.notes,
        **result.extra,
    }
