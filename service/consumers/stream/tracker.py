"""Per-shard low watermark: the checkpoint is the end of the contiguous prefix of done records.

Records finish out of order (one customer's burst waits in the buffer while another's is
delivered), so the checkpoint is never the highest sequence number seen: it stops before the
first record still in flight. Sequence numbers are 21-40 digit strings with gaps; they are
compared as integers and never used in arithmetic.
"""

import asyncio
from collections import deque
from dataclasses import dataclass


@dataclass(slots=True)
class _Entry:
    seq: int
    seq_str: str
    created_at: float | None
    done: bool = False


class RecordTracker:
    def __init__(self, *, checkpoint: str | None) -> None:
        # `checkpoint` is the last sequence number known done when tracking starts (None when
        # the shard is read from a sentinel position).
        self._checkpoint = checkpoint
        self._pending: deque[_Entry] = deque()
        self._by_seq: dict[int, _Entry] = {}
        self._last_registered: int | None = None
        self._fully_read = False
        self._drained = asyncio.Event()
        self._drained.set()

    @property
    def checkpoint(self) -> str | None:
        """The highest sequence number such that it and every record before it are done."""
        return self._checkpoint

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def fully_read(self) -> bool:
        return self._fully_read

    @property
    def finished(self) -> bool:
        """The shard was read to its end and every record in it is done."""
        return self._fully_read and not self._pending

    @property
    def oldest_pending_created_at(self) -> float | None:
        return self._pending[0].created_at if self._pending else None

    def register(self, sequence_number: str, *, created_at: float | None = None) -> None:
        """Record that `sequence_number` was read; records arrive in shard order."""
        seq = int(sequence_number)
        if self._last_registered is not None and seq <= self._last_registered:
            raise ValueError("stream records must be registered in increasing order")
        if self._fully_read:
            raise ValueError("the shard was already read to its end")
        self._last_registered = seq
        entry = _Entry(seq=seq, seq_str=sequence_number, created_at=created_at)
        self._pending.append(entry)
        self._by_seq[seq] = entry
        self._drained.clear()

    def mark_done(self, sequence_number: str) -> bool:
        """Mark a registered record done; returns whether the checkpoint advanced."""
        entry = self._by_seq.get(int(sequence_number))
        if entry is None or entry.done:
            return False
        entry.done = True
        advanced = False
        while self._pending and self._pending[0].done:
            head = self._pending.popleft()
            del self._by_seq[head.seq]
            self._checkpoint = head.seq_str
            advanced = True
        if not self._pending:
            self._drained.set()
        return advanced

    def abandon(self, sequence_number: str) -> None:
        """Forget the newest record, which never reached the handler (reading was stopped)."""
        tail = self._pending[-1] if self._pending else None
        if tail is None or tail.seq_str != sequence_number or tail.done:
            return
        self._pending.pop()
        del self._by_seq[tail.seq]
        if not self._pending:
            self._drained.set()

    def mark_fully_read(self) -> None:
        self._fully_read = True

    async def wait_drained(self) -> None:
        """Return once no registered record is still in flight."""
        await self._drained.wait()
