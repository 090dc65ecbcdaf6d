"""The cost table: every figure with its spread over the repetitions, against its goal;
the JSON of the run; and a chart of the latency distributions."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cost.scenarios import Figures


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    scenario: str
    key: str
    goal: float | None  # at most this (None: shown, no goal)
    unit: str


NEW, LIVE, LATENCY, OUT, PACED, IDLE, MEMORY = (
    "inbound-new-chats",
    "inbound-live-chats",
    "inbound-live-latency",
    "outbound",
    "outbound-paced",
    "idle",
    "memory-10k",
)

# The figures and their goals ("at most"). The outbound latency goal is twice
# what the bridge measured before outbound went through the ordered path (30 / 224 ms).
# fmt: off
ROWS: tuple[Row, ...] = (
    Row("bridge CPU per inbound message, new chats", NEW, "cpu_ms_per_msg", 2.0, "ms"),
    Row("bridge CPU per inbound message, live chats", LIVE, "cpu_ms_per_msg", 1.0, "ms"),
    Row("AWS calls per burst, new chat", NEW, "requests_per_burst", 7, ""),
    Row("AWS calls per burst, live chat", LIVE, "requests_per_burst", 4, ""),
    Row("bridge CPU per outbound message", OUT, "cpu_ms_per_msg", 1.5, "ms"),
    Row("AWS calls per outbound message", OUT, "requests_per_msg", 3, ""),
    Row("RSS idle", IDLE, "rss_mb", 80, "MB"),
    Row("RSS growth, 10,000 customers buffered", MEMORY, "rss_growth_mb", 25, "MB"),
    Row("  per buffered customer", MEMORY, "kb_per_customer", 2.5, "KB"),
    Row("bridge CPU idle, no traffic", IDLE, "cpu_pct", 0.3, "%"),
    Row("added latency after the quiet window, p50 (8 bursts/s)", LATENCY, "added_p50_s", 0.2, "s"),
    Row("added latency after the quiet window, p99 (8 bursts/s)", LATENCY, "added_p99_s", 0.5, "s"),
    Row("  mean, EUM's publication to the buffer (queues, stream)", LATENCY, "intake_lag_s",
        None, "s"),
    Row("  mean, quiet end to delivery done (bridge)", LATENCY, "buffer_to_connect_s", None, "s"),
    Row("added latency, p50 (12.9 bursts/s: over SendMessage's 10/s)", LIVE, "added_p50_s",
        None, "s"),
    Row("  mean wait for Connect's SendMessage quota", LIVE, "quota_wait_s_per_burst", None, "s"),
    Row("added latency, p50 (new chats: Connect's 5/s chat quota)", NEW, "added_p50_s", None, "s"),
    Row("outbound latency item → WhatsApp, p50 (agents typing)", PACED, "latency_p50_ms", 60,
        "ms"),
    Row("outbound latency item → WhatsApp, p99 (agents typing)", PACED, "latency_p99_ms", 448,
        "ms"),
    Row("  replies a second (agents typing)", PACED, "msgs_per_s", None, ""),
    Row("  mean, agent's item to its lane (queues, stream)", PACED, "intake_lag_ms", None, "ms"),
    Row("  mean wait for Connect's GetTranscript quota", PACED,
        "transcript_quota_wait_ms_per_msg", None, "ms"),
    Row("outbound latency, p50 (every agent in the same second)", OUT, "latency_p50_ms", None,
        "ms"),
    Row("  replies a second (every agent in the same second)", OUT, "msgs_per_s", None, ""),
    Row("  mean, agent's item to its lane (queues, stream)", OUT, "intake_lag_ms", None, "ms"),
    Row("  embedded AWS CPU (one request at a time)", OUT, "aws_cpu_pct", None, "%"),
    Row("Connect messages per burst (bridge)", LIVE, "connect_msgs_per_burst", 1.0, ""),
    Row("  old sample, 20 s tumbling window", LIVE, "tumbling_connect_msgs_per_burst", None, ""),
    Row("  old sample: wait after the last message, p50", LIVE, "tumbling_added_p50_s", None, "s"),
    Row("  no buffering", LIVE, "unbuffered_connect_msgs_per_burst", None, ""),
    Row("bridge CPU per message at intake (memory)", MEMORY, "intake_cpu_ms_per_msg", None, "ms"),
    Row("sandbox intake rate (memory run)", MEMORY, "intake_msgs_per_s", None, "msg/s"),
    Row("embedded AWS CPU per inbound message, new chats", NEW, "aws_cpu_ms_per_msg", None, "ms"),
)
# fmt: on


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, min, max)."""
    return statistics.median(values), min(values), max(values)


def _cell(values: Sequence[float]) -> str:
    if not values:
        return "not run"
    mid, low, high = spread(values)
    if len(values) == 1 or low == high:
        return f"{mid:g}"
    return f"{mid:g} [{low:g}-{high:g}]"


def _verdict(row: Row, values: Sequence[float]) -> str:
    if row.goal is None or not values:
        return ""
    return "met" if statistics.median(values) <= row.goal else "NOT met"


def rows(results: Mapping[str, Sequence[Figures]]) -> list[dict[str, Any]]:
    out = []
    for row in ROWS:
        values = [f.values[row.key] for f in results.get(row.scenario, ()) if row.key in f.values]
        out.append(
            {
                "figure": row.label,
                "scenario": row.scenario,
                "unit": row.unit,
                "values": values,
                "median": statistics.median(values) if values else None,
                "goal": row.goal,
                "verdict": _verdict(row, values),
            }
        )
    return out


def table(results: Mapping[str, Sequence[Figures]]) -> str:
    lines = [f"{'figure':<60} {'median [min-max]':>24} {'goal':>8}  "]
    lines.append("-" * len(lines[0]))
    for row, made in zip(ROWS, rows(results), strict=True):
        goal = f"≤ {row.goal:g}" if row.goal is not None else ""
        unit = f" {row.unit}" if row.unit else ""
        lines.append(
            f"{row.label:<60} {_cell(made['values']) + unit:>24} {goal:>8}  {made['verdict']}"
        )
    return "\n".join(lines)


def requests_table(results: Mapping[str, Sequence[Figures]], scenario: str, per: str) -> str:
    """AWS requests by operation (median over the repetitions)."""
    runs = results.get(scenario, ())
    ops = sorted({op for f in runs for op in f.requests})
    cells = [f"{op} {statistics.median([f.requests.get(op, 0.0) for f in runs]):g}" for op in ops]
    return f"{scenario}, requests per {per}: " + ", ".join(cells)


def calls_table(results: Mapping[str, Sequence[Figures]], scenario: str) -> str:
    """Mean AWS call time by operation (median over the repetitions), slowest first."""
    runs = results.get(scenario, ())
    ops = {op for f in runs for op in f.call_ms}
    means = {op: statistics.median([f.call_ms[op] for f in runs if op in f.call_ms]) for op in ops}
    cells = [f"{op} {ms:g}" for op, ms in sorted(means.items(), key=lambda kv: -kv[1])]
    return f"{scenario}, mean ms per call: " + ", ".join(cells)


def chart(results: Mapping[str, Sequence[Figures]], path: Path) -> None:
    """Cumulative distributions of the latencies a customer and an agent see."""
    import matplotlib as mpl  # noqa: PLC0415  only `make bench` needs it

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    def pooled(scenario: str, key: str) -> list[float]:
        return sorted(v for f in results.get(scenario, ()) for v in f.samples.get(key, ()))

    def cdf(axis: Any, values: list[float], label: str, scale: Callable[[float], float]) -> None:
        if values:
            ys = [(i + 1) / len(values) for i in range(len(values))]
            axis.step([scale(v) for v in values], ys, where="post", label=label)

    figure, (inbound, outbound) = plt.subplots(1, 2, figsize=(12, 4.5))
    cdf(inbound, pooled(LATENCY, "added_s"), "bridge, live chats (8 bursts/s)", float)
    cdf(inbound, pooled(LIVE, "added_s"), "bridge, live chats (12.9 bursts/s)", float)
    cdf(inbound, pooled(NEW, "added_s"), "bridge, new chats", float)
    cdf(inbound, pooled(LIVE, "tumbling_s"), "old sample (20 s window)", float)
    inbound.set(
        title="Customer burst → Connect, after the quiet window",
        xlabel="added latency (s)",
        ylabel="share of bursts",
    )
    inbound.legend(loc="lower right")
    inbound.grid(alpha=0.3)
    cdf(outbound, pooled(PACED, "outbound_s"), "agents typing", lambda v: v * 1000)
    cdf(outbound, pooled(OUT, "outbound_s"), "every agent in the same second", lambda v: v * 1000)
    outbound.set(
        title="Agent's item → WhatsApp send", xlabel="latency (ms)", ylabel="share of messages"
    )
    outbound.legend(loc="lower right")
    outbound.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
