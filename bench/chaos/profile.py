"""How big and how long a campaign is: the full profile and the `--short` one.

The bridge runs with scaled-down windows so a campaign takes minutes, not hours; the
behaviour under test is the same as with the production defaults (5 s quiet, 20 s max
wait, 10 s leases, 5 s scans). SQS visibility timeouts are left as the bootstrap makes
them in the full profile (the harness waits them out), because they decide how late a
killed worker's messages come back; only the short profile shortens them (see SHORT).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

QUIET_S: Final = 2.0
WORKER_ENV: Final = {
    "BRIDGE_BUFFER_QUIET_S": str(QUIET_S),
    "BRIDGE_BUFFER_MAX_WAIT_S": "8",
    "BRIDGE_STREAM_LEASE_DURATION_S": "4",
    "BRIDGE_STREAM_SCAN_INTERVAL_S": "1",
    # Above the max wait, so a SIGTERM drain can deliver every buffered burst.
    "BRIDGE_DRAIN_TIMEOUT_S": "10",
    "BRIDGE_LOG_FORMAT": "json",
    "BRIDGE_LOG_LEVEL": "INFO",
}


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    customers: int
    agent_rounds: int
    agent_replies_per_round: int
    # Load before the fault starts, and after it ends.
    pre_s: float
    post_s: float
    # (a): how many workers are killed (None: each in turn), and the time between kills.
    kills: int | None
    kill_interval_s: float
    # (c) and (d): how long the throttling and the outage last.
    throttle_s: float
    outage_s: float
    # (e): hostile events in each direction, and valid-but-odd inbound messages.
    hostile_inbound: int
    hostile_outbound: int
    odd_inbound: int
    # (e): sending stops after this long, and the line says what was not sent.
    flood_budget_s: float
    # After the load: how long to wait past the longest visibility timeout at most, and
    # the grace once everything looks delivered (a lease handover replays within it).
    settle_margin_s: float
    grace_s: float
    # Agent rounds at these offsets from the start of the load; None spreads them evenly.
    agent_rounds_at_s: tuple[float, ...] | None = None
    agent_jitter_s: float = 2.0
    # Set both queues' VisibilityTimeout to this before the load (None: keep the bootstrap's).
    visibility_timeout_s: int | None = None


FULL: Final = Profile(
    name="full",
    customers=30,
    agent_rounds=3,
    agent_replies_per_round=4,
    pre_s=15.0,
    post_s=20.0,
    kills=None,
    kill_interval_s=20.0,
    throttle_s=20.0,
    outage_s=30.0,
    hostile_inbound=10_000,
    hostile_outbound=2_000,
    odd_inbound=200,
    flood_budget_s=900.0,
    settle_margin_s=60.0,
    grace_s=12.0,
)

# One SIGKILL with two workers, small: what tests/e2e/test_chaos_short.py runs. Whatever
# SQS message the killed worker had received (a customer echo streamed back by Connect is
# always on its way) comes back only after the queue's visibility timeout, 120 s outbound;
# like tests/e2e/test_failover.py, the short run shortens both queues' timeout so the run
# fits in about 90 s (still above anything a live worker holds a message without its
# heartbeat). The agent's rounds come before the kill and after the takeover.
SHORT: Final = Profile(
    name="short",
    customers=8,
    agent_rounds=2,
    agent_replies_per_round=3,
    pre_s=15.0,
    post_s=12.0,
    kills=1,
    kill_interval_s=0.0,
    throttle_s=10.0,
    outage_s=15.0,
    hostile_inbound=500,
    hostile_outbound=100,
    odd_inbound=20,
    flood_budget_s=120.0,
    settle_margin_s=30.0,
    grace_s=8.0,
    agent_rounds_at_s=(5.0, 25.0),
    agent_jitter_s=1.0,
    visibility_timeout_s=15,
)


def agent_rounds_at(profile: Profile, planned_load_s: float) -> tuple[float, ...]:
    """Round offsets: the profile's, or spread from early in the load to late in it."""
    if profile.agent_rounds_at_s is not None:
        return profile.agent_rounds_at_s
    first = profile.pre_s / 2
    last = planned_load_s - profile.post_s / 2
    if profile.agent_rounds == 1:
        return (first,)
    step = (last - first) / (profile.agent_rounds - 1)
    return tuple(first + step * k for k in range(profile.agent_rounds))
