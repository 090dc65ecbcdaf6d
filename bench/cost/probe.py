"""What a run costs, read from outside the bridge: CPU and memory from /proc, AWS requests
from its /metrics (`BRIDGE_COUNT_AWS_REQUESTS`, `service/aws_requests.py`)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.chaos.cluster import Cluster
from bench.harness import cpu_seconds, rss_mb

REQUESTS = "bridge_aws_requests"
# Seconds Connect calls waited for the bridge's own rate limiter, by API: what Connect's
# quotas (SendMessage: 10 a second per instance) add to a burst's latency.
QUOTA_WAIT = "bridge_connect_ratelimit_wait_seconds"
# AWS calls timed by operation (same setting): what each step of a delivery waits.
CALLS = "bridge_aws_call_seconds"
# From publication (a customer's message) or the agent's clock (an agent's item) to the
# customer's owner, by direction: the part of every latency the queues and stream add.
INTAKE_LAG = "bridge_intake_lag_seconds"

SumCount = tuple[float, float]  # a histogram's (seconds summed, observations)


def quota_wait_s(before: Reading, after: Reading, api: str) -> float:
    """Seconds Connect calls to `api` waited for the client-side quota between readings."""
    return after.quota_wait_s.get(api, 0.0) - before.quota_wait_s.get(api, 0.0)


def _means(after: dict[str, SumCount], before: dict[str, SumCount]) -> dict[str, float]:
    """Mean seconds of what was observed between two readings, by label."""
    means = {}
    for key, (total, count) in after.items():
        was_total, was_count = before.get(key, (0.0, 0.0))
        if count > was_count:
            means[key] = (total - was_total) / (count - was_count)
    return means


@dataclass(frozen=True, slots=True)
class Reading:
    """One look at every process of the sandbox and at the bridge's counters."""

    at: float
    cpu_s: dict[str, float]
    rss_mb: dict[str, float]
    requests: Counter[str] = field(default_factory=Counter)  # "service.Operation" → count
    gauges: dict[str, float] = field(default_factory=dict)
    quota_wait_s: dict[str, float] = field(default_factory=dict)  # API → seconds so far
    burst_latency: tuple[float, float] = (0.0, 0.0)  # (seconds summed, bursts) so far
    call_s: dict[str, SumCount] = field(default_factory=dict)  # "service.Operation" →
    intake_lag: dict[str, SumCount] = field(default_factory=dict)  # direction →

    def since(self, before: Reading) -> Spent:
        return Spent(
            wall_s=self.at - before.at,
            cpu_s={name: self.cpu_s[name] - before.cpu_s.get(name, 0.0) for name in self.cpu_s},
            requests=self.requests - before.requests,
            call_mean_s=_means(self.call_s, before.call_s),
            intake_lag_mean_s=_means(self.intake_lag, before.intake_lag),
        )


@dataclass(frozen=True, slots=True)
class Spent:
    wall_s: float
    cpu_s: dict[str, float]
    requests: Counter[str]
    call_mean_s: dict[str, float] = field(default_factory=dict)  # op → mean call seconds
    intake_lag_mean_s: dict[str, float] = field(default_factory=dict)  # direction → seconds

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


def pids(cluster: Cluster) -> dict[str, int]:
    return {"bridge": cluster.worker_pid(0), "aws": cluster.aws_pid, "sim": cluster.sim_pid}


# The buffer's histogram: from a burst's last message reaching the buffer to the burst's
# delivery, quiet window included.
BURST_LATENCY = "bridge_burst_latency_seconds"


@dataclass(frozen=True, slots=True)
class Metrics:
    """What the cost table reads of the bridge's /metrics, in one pass over it."""

    requests: Counter[str]  # "service.Operation" → count
    gauges: dict[str, float]  # every gauge without labels
    quota_wait_s: dict[str, float]  # API → seconds Connect calls waited for the limiter
    burst_latency: tuple[float, float]  # (seconds summed, bursts)
    call_s: dict[str, SumCount]  # "service.Operation" → (seconds summed, calls)
    intake_lag: dict[str, SumCount]  # direction → (seconds summed, items)


# The histograms the table reads (sum and count only), and the key of each one's labels.
_HISTOGRAMS: dict[str, Callable[[dict[str, str]], str]] = {
    BURST_LATENCY: lambda _labels: "",
    CALLS: lambda labels: f"{labels['service']}.{labels['operation']}",
    INTAKE_LAG: lambda labels: labels["direction"],
}


def parse_metrics(text: str) -> Metrics:
    requests: Counter[str] = Counter()
    gauges: dict[str, float] = {}
    quota_wait_s: dict[str, float] = {}
    histograms: dict[str, dict[str, list[float]]] = {name: {} for name in _HISTOGRAMS}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if family.name == REQUESTS and sample.name.endswith("_total"):
                key = f"{sample.labels['service']}.{sample.labels['operation']}"
                requests[key] += int(sample.value)
            elif family.name == QUOTA_WAIT and sample.name.endswith("_total"):
                quota_wait_s[sample.labels["api"]] = sample.value
            elif family.name in _HISTOGRAMS and sample.name.endswith(("_sum", "_count")):
                key = _HISTOGRAMS[family.name](sample.labels)
                sum_count = histograms[family.name].setdefault(key, [0.0, 0.0])
                sum_count[1 if sample.name.endswith("_count") else 0] = sample.value
            elif family.type == "gauge" and not sample.labels:
                gauges[sample.name] = sample.value
    sums = {name: {k: (v[0], v[1]) for k, v in by.items()} for name, by in histograms.items()}
    return Metrics(
        requests,
        gauges,
        quota_wait_s,
        sums[BURST_LATENCY].get("", (0.0, 0.0)),
        sums[CALLS],
        sums[INTAKE_LAG],
    )


async def read(cluster: Cluster, http: httpx.AsyncClient) -> Reading:
    response = await http.get(f"{cluster.admin_url(0)}/metrics")
    response.raise_for_status()
    metrics = parse_metrics(response.text)
    if not any(key for key in metrics.requests):
        raise SystemExit("the bridge counts no AWS requests: is BRIDGE_COUNT_AWS_REQUESTS set?")
    processes = pids(cluster)
    return Reading(
        at=time.monotonic(),
        cpu_s={name: cpu_seconds(pid) for name, pid in processes.items()},
        rss_mb={name: rss_mb(pid) for name, pid in processes.items()},
        requests=metrics.requests,
        gauges=metrics.gauges,
        quota_wait_s=metrics.quota_wait_s,
        burst_latency=metrics.burst_latency,
        call_s=metrics.call_s,
        intake_lag=metrics.intake_lag,
    )
