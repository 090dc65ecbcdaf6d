"""A lease this worker holds: writes serialised, fenced when renewals stop succeeding."""

import asyncio
from collections.abc import Awaitable, Callable

from service.clock import SYSTEM_CLOCK, Clock
from service.consumers.stream.errors import LeaseLostError, LeaseMissingError
from service.consumers.stream.leases import Lease, LeaseStore


class HeldLease:
    def __init__(
        self,
        *,
        lease: Lease,
        store: LeaseStore,
        owner: str,
        valid_for_s: float,
        acquired_at: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        # `valid_for_s` is the lease duration minus a safety margin: past it, another
        # worker may already judge the lease expired, so this one stops trusting it.
        self._lease = lease
        self._store = store
        self._owner = owner
        self._valid_for = valid_for_s
        self._clock = clock
        self._last_renewed = acquired_at
        self._lost = False
        self._missing = False
        self._lock = asyncio.Lock()

    @property
    def lease(self) -> Lease:
        return self._lease

    @property
    def key(self) -> str:
        return self._lease.key

    @property
    def lost(self) -> bool:
        return self._lost

    @property
    def missing(self) -> bool:
        """The lease row was found deleted (by hand): an alarm, not a normal takeover."""
        return self._missing

    @property
    def fenced(self) -> bool:
        return self._lost or self._clock.monotonic() - self._last_renewed >= self._valid_for

    def mark_lost(self) -> None:
        self._lost = True

    async def renew(self) -> Lease:
        return await self._write(lambda lease: self._store.renew(lease, owner=self._owner))

    async def checkpoint(self, checkpoint: str) -> Lease:
        if checkpoint == self._lease.checkpoint:
            return self._lease
        return await self._write(
            lambda lease: self._store.checkpoint(lease, owner=self._owner, checkpoint=checkpoint)
        )

    async def finish(self, child_shard_ids: list[str]) -> Lease:
        lease = await self._write(
            lambda lease: self._store.finish(
                lease, owner=self._owner, child_shard_ids=child_shard_ids
            )
        )
        self._lost = True  # no longer ours to renew
        return lease

    async def release(self, *, checkpoint: str | None, to: str | None = None) -> Lease:
        if checkpoint == self._lease.checkpoint:
            checkpoint = None
        lease = await self._write(
            lambda lease: self._store.release(
                lease, owner=self._owner, checkpoint=checkpoint, to=to
            )
        )
        self._lost = True
        return lease

    async def _write(self, write: Callable[[Lease], Awaitable[Lease]]) -> Lease:
        async with self._lock:
            if self.fenced:
                raise LeaseLostError(f"lease {self._lease.key} is fenced")
            # Validity counts from when the request left, not when the answer came back.
            sent_at = self._clock.monotonic()
            try:
                lease = await write(self._lease)
            except LeaseLostError as exc:
                self._lost = True
                self._missing = isinstance(exc, LeaseMissingError)
                raise
            self._lease = lease
            self._last_renewed = sent_at
            return lease
