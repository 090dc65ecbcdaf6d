"""Prometheus metrics of the stream consumer, registered on an injected registry."""

from prometheus_client import CollectorRegistry, Counter, Gauge


class StreamMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.iterator_age = Gauge(
            "bridge_stream_iterator_age_seconds",
            "Age of the newest record read from a shard (now - ApproximateCreationDateTime).",
            ["shard"],
            registry=registry,
        )
        self.checkpoint_lag_records = Gauge(
            "bridge_stream_checkpoint_lag_records",
            "Records read from a shard and not yet done (the checkpoint waits for them).",
            ["shard"],
            registry=registry,
        )
        self.checkpoint_lag_seconds = Gauge(
            "bridge_stream_checkpoint_lag_seconds",
            "Age of the oldest record of a shard that is not yet done.",
            ["shard"],
            registry=registry,
        )
        self.leases_held = Gauge(
            "bridge_stream_leases_held", "Shard leases this worker holds.", registry=registry
        )
        self.lease_lost = Counter(
            "bridge_stream_lease_lost",
            "Leases lost without a graceful release.",
            ["reason"],
            registry=registry,
        )
        self.handoffs = Counter(
            "bridge_stream_handoffs",
            "Graceful lease handoffs, by this worker's role in them.",
            ["role"],
            registry=registry,
        )
        self.leases_taken = Counter(
            "bridge_stream_leases_taken", "Leases taken by this worker.", registry=registry
        )
        self.trimmed = Counter(
            "bridge_stream_trimmed",
            "TrimmedDataAccessException: records expired before they were read (data loss).",
            registry=registry,
        )
        self.expired_iterators = Counter(
            "bridge_stream_expired_iterators",
            "ExpiredIteratorException, recovered from the last record read.",
            registry=registry,
        )
        self.throttled = Counter(
            "bridge_stream_throttled",
            "Throttled calls to DynamoDB Streams or the leases table.",
            ["operation"],
            registry=registry,
        )
        self.errors = Counter(
            "bridge_stream_errors",
            "Other failed calls, retried with backoff.",
            ["operation"],
            registry=registry,
        )
        self.records = Counter(
            "bridge_stream_records",
            "Stream records read, by what was done with them.",
            ["outcome"],
            registry=registry,
        )
        self.checkpoints = Counter(
            "bridge_stream_checkpoints", "Checkpoints written.", registry=registry
        )
        self.alarms = Counter(
            "bridge_stream_alarms",
            "Conditions that need a human: missing lease rows, vanished shards, disabled stream.",
            ["kind"],
            registry=registry,
        )

    def forget_shard(self, shard: str) -> None:
        # Shards roll over every few hours; per-shard series must not pile up.
        for gauge in (self.iterator_age, self.checkpoint_lag_records, self.checkpoint_lag_seconds):
            try:
                gauge.remove(shard)
            except KeyError:
                continue
