"""What arrives, as the bridge sees its carriers: queue messages and stream records.

The bridge knows nothing of SQS or DynamoDB Streams (DESIGN §3). It declares here the
little it needs of them; the consumers' own types satisfy these Protocols without knowing
they exist, and the composition root (`service.app`) connects the two.

- A flow handling a queue batch reads `QueueItem`s and answers one `Outcome` per item.
- The buffer takes `StreamItem`s, each with an `Acknowledgement` it resolves once: the
  record was delivered, or it is parked (durably, with a reason) and never retried here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol


class QueueItem(Protocol):
    @property
    def message_id(self) -> str: ...

    @property
    def payload(self) -> str:
        """The event itself (an SNS envelope already unwrapped)."""
        ...

    @property
    def attributes(self) -> Mapping[str, str]: ...

    @property
    def dedup_key(self) -> str:
        """Stable across SNS → SQS redeliveries of one publication."""
        ...


class Settle(StrEnum):
    DONE = "done"
    RETRY = "retry"  # may succeed later: back off, try again
    PARK = "park"  # can never succeed: park it with its reason now


@dataclass(frozen=True, slots=True)
class Outcome:
    settle: Settle
    # Logged and stored with the parked message: never personal data.
    reason: str = ""
    retry_after_s: float | None = None
    # One fixed word for counting parked items (`malformed`, `rejected`, ...).
    cause: str = "poison"


DONE: Final = Outcome(Settle.DONE)


def retry(reason: str, retry_after_s: float | None = None) -> Outcome:
    return Outcome(Settle.RETRY, reason, retry_after_s)


def park(reason: str, cause: str = "poison") -> Outcome:
    return Outcome(Settle.PARK, reason, cause=cause)


class StreamItem(Protocol):
    @property
    def shard_key(self) -> str: ...

    @property
    def shard_id(self) -> str: ...

    @property
    def sequence_number(self) -> str: ...

    @property
    def new_image(self) -> Mapping[str, Any]: ...


class Acknowledgement(Protocol):
    def delivered(self) -> None:
        """The record's effect happened: the checkpoint may pass it."""

    async def park(self, reason: str) -> None:
        """Park the record durably with `reason`, then let the checkpoint pass it."""
