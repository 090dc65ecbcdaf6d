import asyncio
import io
import json

from prometheus_client import CollectorRegistry

from service.cloudwatch_metrics import NAMESPACE, EmfReporter, emf_document
from service.consumers.stream.metrics import StreamMetrics
from tests.support.clock import FakeClock


def _registry_with_two_shards() -> CollectorRegistry:
    registry = CollectorRegistry()
    metrics = StreamMetrics(registry)
    metrics.iterator_age.labels("s#1").set(4.5)
    metrics.iterator_age.labels("s#2").set(61.0)
    metrics.checkpoint_lag_seconds.labels("s#1").set(2.0)
    metrics.leases_held.set(2)
    return registry


def test_document_is_valid_emf_with_the_worst_shard():
    document = emf_document(_registry_with_two_shards(), name_prefix="wa-bridge", now_ms=1234)

    assert document["StreamIteratorAgeSeconds"] == 61.0
    assert document["StreamCheckpointLagSeconds"] == 2.0
    assert document["StreamLeasesHeld"] == 2.0
    assert document["NamePrefix"] == "wa-bridge"
    directive = document["_aws"]
    assert isinstance(directive, dict)
    assert directive["Timestamp"] == 1234
    (metrics,) = directive["CloudWatchMetrics"]
    assert metrics["Namespace"] == NAMESPACE
    assert metrics["Dimensions"] == [["NamePrefix"]]
    names = {m["Name"] for m in metrics["Metrics"]}
    # Every declared metric has a value at the document's top level, as EMF requires.
    assert names == {"StreamIteratorAgeSeconds", "StreamCheckpointLagSeconds", "StreamLeasesHeld"}
    assert all(name in document for name in names)


def test_nothing_is_invented_before_any_shard_is_read():
    registry = CollectorRegistry()
    StreamMetrics(registry)  # labelled gauges have no samples until a shard reports

    document = emf_document(registry, name_prefix="p", now_ms=0)

    names = {m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]}  # type: ignore[index]
    assert "StreamIteratorAgeSeconds" not in names
    assert "StreamIteratorAgeSeconds" not in document


class _Lines(io.StringIO):
    def __init__(self, wanted: int) -> None:
        super().__init__()
        self.enough = asyncio.Event()
        self._wanted = wanted

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.getvalue().count("\n") >= self._wanted:
            self.enough.set()
        return written


async def test_reporter_writes_one_json_line_per_interval_and_a_last_one_on_stop():
    out = _Lines(wanted=2)
    reporter = EmfReporter(
        registry=_registry_with_two_shards(),
        name_prefix="wa-bridge",
        interval_s=0.01,
        stream=out,
        clock=FakeClock(wall_start=1700000000.0),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(reporter.run(stop))
    async with asyncio.timeout(5):
        await out.enough.wait()
    stop.set()
    await task

    lines = out.getvalue().splitlines()
    assert len(lines) >= 3
    for line in lines:
        parsed = json.loads(line)
        assert parsed["_aws"]["Timestamp"] == 1700000000000
        assert parsed["StreamIteratorAgeSeconds"] == 61.0
