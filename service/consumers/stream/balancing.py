"""Which leases to take and which to ask for: KCL's observer-local expiry and even balancing.

A lease counts as expired when *this* worker has not seen its counter move for a lease
duration on its own monotonic clock. Hosts' wall clocks are never compared, so clock skew
between tasks cannot cause a wrongful takeover.
"""

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from service.clock import SYSTEM_CLOCK, Clock
from service.consumers.stream.leases import Lease

# Leases expired this many durations ago are orphans: take them even above the target.
_ORPHAN_FACTOR = 3


@dataclass(slots=True)
class _Seen:
    counter: int
    owner: str | None
    at: float


class ExpiryObserver:
    def __init__(self, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._seen: dict[str, _Seen] = {}

    def observe(self, leases: Iterable[Lease]) -> None:
        now = self._clock.monotonic()
        present: set[str] = set()
        for lease in leases:
            present.add(lease.key)
            seen = self._seen.get(lease.key)
            if seen is None or seen.counter != lease.counter or seen.owner != lease.owner:
                self._seen[lease.key] = _Seen(lease.counter, lease.owner, now)
        for key in self._seen.keys() - present:
            del self._seen[key]

    def unchanged_for(self, lease: Lease) -> float:
        """How long this worker has seen the lease's counter stand still."""
        seen = self._seen.get(lease.key)
        if seen is None or seen.counter != lease.counter or seen.owner != lease.owner:
            return 0.0
        return self._clock.monotonic() - seen.at

    def is_expired(self, lease: Lease, *, duration_s: float) -> bool:
        return lease.owner is None or self.unchanged_for(lease) >= duration_s


@dataclass(frozen=True, slots=True)
class LeasePlan:
    take: list[Lease] = field(default_factory=list)
    request_handoff: Lease | None = None
    target: int = 0


def plan_leases(  # noqa: C901  one decision table, clearer in one place
    *,
    leases: Iterable[Lease],
    me: str,
    held: set[str],
    observer: ExpiryObserver,
    duration_s: float,
    max_leases: int,
    rng: random.Random,
    preferred_shards: frozenset[str] = frozenset(),
    handoff_pending: bool = False,
) -> LeasePlan:
    active = [lease for lease in leases if not lease.finished]
    if not active:
        return LeasePlan()
    live_owners = {me}
    load: dict[str, list[Lease]] = {}
    for lease in active:
        if lease.owner is None or lease.owner == me:
            continue
        if not observer.is_expired(lease, duration_s=duration_s):
            live_owners.add(lease.owner)
            load.setdefault(lease.owner, []).append(lease)
    target = min(max_leases, math.ceil(len(active) / len(live_owners)))
    mine = len(held)
    take: list[Lease] = []

    # Leases handed to us by their previous owner are ours already; adopt them first.
    for lease in active:
        if lease.owner == me and lease.key not in held and mine + len(take) < max_leases:
            take.append(lease)

    available = [
        lease
        for lease in active
        if lease.key not in held
        and lease.owner != me
        and observer.is_expired(lease, duration_s=duration_s)
    ]
    rng.shuffle(available)
    available.sort(key=lambda lease: lease.shard_id not in preferred_shards)
    orphan_after = duration_s * _ORPHAN_FACTOR
    for lease in available:
        count = mine + len(take)
        if count >= max_leases:
            break
        orphaned = lease.owner is not None and observer.unchanged_for(lease) >= orphan_after
        if count < target or orphaned:
            take.append(lease)

    request: Lease | None = None
    count = mine + len(take)
    if not handoff_pending and count < target and load:
        _, theirs = max(load.items(), key=lambda item: (len(item[1]), item[0]))
        # Ask only when it evens things out: never from a worker at target to one just below.
        if len(theirs) > target or (len(theirs) == target and count < target - 1):
            candidates = [lease for lease in theirs if lease.handoff_to is None]
            if candidates:
                request = rng.choice(candidates)
    return LeasePlan(take=take, request_handoff=request, target=target)
