"""CloudWatch metrics without CloudWatch API calls: Embedded Metric Format lines on stdout.

On ECS the awslogs driver ships stdout to CloudWatch Logs, which turns every EMF line into
metric data points. That lets the deployment alarm on values only the bridge knows (how
far behind the stream it reads) with no `cloudwatch:PutMetricData` permission and no call
on the hot path. The Prometheus registry stays the single source: this module only
samples it on an interval.

The line is written straight to the stream, not through the log pipeline, so an operator
raising the log level to WARNING cannot blind the alarms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass
from typing import Literal, TextIO

from prometheus_client import CollectorRegistry

from service.clock import SYSTEM_CLOCK, Clock

NAMESPACE = "WhatsAppConnectBridge"
DIMENSION = "NamePrefix"

Aggregate = Literal["max", "sum"]


@dataclass(frozen=True, slots=True)
class ExportedMetric:
    name: str
    sample: str
    aggregate: Aggregate
    unit: str


# What the deployment's alarms and dashboards read. Gauges only: a point-in-time value per
# interval is what CloudWatch statistics (Maximum, Average) expect.
EXPORTED: tuple[ExportedMetric, ...] = (
    ExportedMetric(
        "StreamIteratorAgeSeconds", "bridge_stream_iterator_age_seconds", "max", "Seconds"
    ),
    ExportedMetric(
        "StreamCheckpointLagSeconds", "bridge_stream_checkpoint_lag_seconds", "max", "Seconds"
    ),
    ExportedMetric("StreamLeasesHeld", "bridge_stream_leases_held", "sum", "Count"),
)


def _sample_values(registry: CollectorRegistry) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    for family in registry.collect():
        for sample in family.samples:
            values.setdefault(sample.name, []).append(float(sample.value))
    return values


def emf_document(
    registry: CollectorRegistry, *, name_prefix: str, now_ms: int
) -> dict[str, object]:
    """One EMF document with every exported metric that has a value in the registry."""
    values = _sample_values(registry)
    document: dict[str, object] = {DIMENSION: name_prefix}
    definitions: list[dict[str, str]] = []
    for metric in EXPORTED:
        found = values.get(metric.sample)
        if not found:
            continue  # e.g. no shard read yet: report nothing rather than a made-up zero
        document[metric.name] = max(found) if metric.aggregate == "max" else sum(found)
        definitions.append({"Name": metric.name, "Unit": metric.unit})
    document["_aws"] = {
        "Timestamp": now_ms,
        "CloudWatchMetrics": [
            {"Namespace": NAMESPACE, "Dimensions": [[DIMENSION]], "Metrics": definitions}
        ],
    }
    return document


class EmfReporter:
    def __init__(
        self,
        *,
        registry: CollectorRegistry,
        name_prefix: str,
        interval_s: float,
        stream: TextIO | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._registry = registry
        self._name_prefix = name_prefix
        self._interval_s = interval_s
        self._stream = stream
        self._clock = clock

    def report(self) -> None:
        document = emf_document(
            self._registry,
            name_prefix=self._name_prefix,
            now_ms=int(self._clock.time() * 1000),
        )
        stream = self._stream or sys.stdout
        stream.write(json.dumps(document, separators=(",", ":")) + "\n")
        stream.flush()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval_s):
                    await stop.wait()
            self.report()
