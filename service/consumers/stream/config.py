"""Tuning of the DynamoDB stream consumer, with defaults that suit a few tasks and shards."""

from dataclasses import dataclass
from typing import Literal

# AWS documents no per-shard GetRecords rate for DynamoDB Streams; Lambda polls 4 times
# a second. The idle interval is the latency this hop adds to a quiet shard, so it is capped.
MAX_IDLE_POLL_INTERVAL_S = 0.25
# A shard that keeps answering empty is asked less and less often, up to this: at 4 polls a
# second an idle worker spends most of its CPU (and its GetRecords calls) on empty pages.
# 1 s is the DynamoDB Streams Kinesis adapter v2's idle time between reads; records this
# process writes wake its readers at once, so the longer wait only meets a record written
# by another task onto a quiet shard this one reads.
MAX_IDLE_BACKOFF_S = 2.0
# Records live 24 h; a shard created longer ago than this (plus its own lifetime) has none.
STREAM_RETENTION_S = 24 * 3600.0
# API maxima: GetRecords returns at most 1000 records, DescribeStream at most 100 shards.
MAX_BATCH_LIMIT = 1000
MAX_DESCRIBE_PAGE_LIMIT = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamConsumerConfig:
    # Leases (KCL semantics; see reference/stream-consumer.md section 7.3).
    lease_duration_s: float = 10.0
    renew_interval_s: float = 3.0
    # A worker stops trusting a lease this long before another worker may take it.
    fencing_safety_s: float = 2.0
    scan_interval_s: float = 5.0
    scan_jitter_s: float = 1.0
    max_leases_per_worker: int = 64
    # How long a requester waits for the owner's graceful handoff before taking by force.
    handoff_deadline_s: float = 30.0
    # The owner's own budget to flush and checkpoint a shard it hands off.
    handoff_flush_deadline_s: float = 10.0
    # SIGTERM budget for flushing, acknowledgements and final checkpoints (ECS gives 30 s).
    drain_deadline_s: float = 20.0
    # Reading.
    idle_poll_interval_s: float = MAX_IDLE_POLL_INTERVAL_S
    idle_backoff_max_s: float = 1.0
    # A write by this process ends any rest, but asks of one shard stay at least this far
    # apart (at most the idle poll interval) however often the process writes.
    wake_min_gap_s: float = 0.05
    batch_limit: int = 1000
    describe_page_limit: int = 100
    # Iterators expire after 15 min; one held longer than this is rebuilt before use.
    iterator_refresh_s: float = 600.0
    backoff_base_s: float = 0.1
    backoff_max_s: float = 5.0
    # Checkpoints.
    checkpoint_debounce_s: float = 2.0
    # Where a shard without parent starts when it has no lease yet. Children always start at
    # TRIM_HORIZON; LATEST is only for a deliberate first deployment.
    initial_position: Literal["TRIM_HORIZON", "LATEST"] = "TRIM_HORIZON"
    # Finished leases are purged by the table's TTL once no DescribeStream can list their
    # shard again (records live 24 h), so lineage is never replayed.
    finished_lease_retention_s: float = 72 * 3600.0
    # A parent missing from both the lease table and DescribeStream blocks its children
    # only while it may still hold records.
    missing_parent_block_s: float = STREAM_RETENTION_S + 3600.0

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not 0 < self.idle_poll_interval_s <= MAX_IDLE_POLL_INTERVAL_S:
            problems.append(f"idle_poll_interval_s must be in (0, {MAX_IDLE_POLL_INTERVAL_S}]")
        if not self.idle_poll_interval_s <= self.idle_backoff_max_s <= MAX_IDLE_BACKOFF_S:
            problems.append(
                f"idle_backoff_max_s must be in [idle_poll_interval_s, {MAX_IDLE_BACKOFF_S}]"
            )
        if self.fencing_safety_s <= 0 or self.fencing_safety_s >= self.lease_duration_s:
            problems.append("fencing_safety_s must be in (0, lease_duration_s)")
        if not 0 < self.renew_interval_s < self.lease_duration_s - self.fencing_safety_s:
            problems.append("renew_interval_s must be below lease_duration_s - fencing_safety_s")
        if not 1 <= self.batch_limit <= MAX_BATCH_LIMIT:
            problems.append(f"batch_limit must be in [1, {MAX_BATCH_LIMIT}]")
        if not 1 <= self.describe_page_limit <= MAX_DESCRIBE_PAGE_LIMIT:
            problems.append(f"describe_page_limit must be in [1, {MAX_DESCRIBE_PAGE_LIMIT}]")
        if self.max_leases_per_worker < 1:
            problems.append("max_leases_per_worker must be >= 1")
        if self.finished_lease_retention_s <= STREAM_RETENTION_S:
            problems.append("finished_lease_retention_s must exceed the 24 h record retention")
        positive = (
            "scan_interval_s",
            "handoff_deadline_s",
            "handoff_flush_deadline_s",
            "drain_deadline_s",
            "iterator_refresh_s",
            "backoff_base_s",
            "backoff_max_s",
            "checkpoint_debounce_s",
        )
        problems.extend(f"{name} must be > 0" for name in positive if getattr(self, name) <= 0)
        if self.scan_jitter_s < 0:
            problems.append("scan_jitter_s must be >= 0")
        if problems:
            raise ValueError("; ".join(problems))
