"""What the admin API reads and may do, as small views the composition root hands it.

The admin surface knows nothing of the bridge's or the consumers' classes (DESIGN §3):
each route depends on one of these Protocols, and `service.app` passes objects that
satisfy them. Every identity in what they return is already masked, and no token ever
appears; the views are where that is guaranteed, so a new route cannot leak by mistake.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class SessionsPage(Protocol):
    @property
    def sessions(self) -> Sequence[Mapping[str, Any]]:
        """Redacted sessions."""
        ...

    @property
    def cursor(self) -> str | None: ...


class EndedSession(Protocol):
    @property
    def deleted(self) -> bool: ...

    @property
    def disconnected(self) -> bool: ...


class SessionsView(Protocol):
    async def page(self, *, limit: int, cursor: str | None) -> SessionsPage:
        """Raises ValueError for a cursor that is not one."""
        ...

    async def one(self, customer_key: str) -> Mapping[str, Any] | None: ...

    async def end(self, customer_key: str) -> EndedSession | None:
        """Disconnect the customer and forget the session; None if there was none."""
        ...


class BuffersView(Protocol):
    def snapshot(self) -> Sequence[Mapping[str, Any]]:
        """This task's buffered customers (customer keys unmasked: the route masks them)."""
        ...

    async def flush_customer(self, customer_key: str) -> bool: ...


class ShardsView(Protocol):
    @property
    def worker_id(self) -> str: ...

    def held_shards(self) -> list[str]: ...

    def snapshot(self) -> Sequence[Any]:
        """Dataclass rows: shard, owner, checkpoint, lag, parent, state."""
        ...


class DeadLettersView(Protocol):
    """The dead-letter queues: each parked message's facts (never its body), redrive, purge."""

    def queues(self) -> Sequence[str]: ...

    async def look(self, queue: str) -> tuple[Sequence[Any], bool]:
        """Dataclass rows (id, masked reason, source, cause, parked at, first seen, receives,
        size, redrivable) and whether more may be waiting. KeyError: no such queue."""
        ...

    async def redrive(self, queue: str, message_ids: Sequence[str] | None) -> Any:
        """A dataclass of message-id lists: redriven, not_redrivable, failed, not_found.
        None redrives every redrivable message. KeyError: no such queue."""
        ...

    async def purge(self, queue: str) -> None:
        """KeyError: no such queue; the typed error when SQS refuses (one purge a minute)."""
        ...
