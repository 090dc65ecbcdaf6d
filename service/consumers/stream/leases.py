"""Shard leases in DynamoDB: every write is conditional on the lease counter (the fencing token).

One item per shard, keyed `<stream label>#<shard id>`. The stream label (the stream ARN's last
segment) is part of the key so a stream that is disabled and re-enabled, which gets a new
label, never reuses the old stream's checkpoints. This format is final: changing it would
orphan every checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from service import dynamo
from service.aws_errors import ErrorKind, classify
from service.clock import SYSTEM_CLOCK, Clock
from service.consumers.stream.errors import (
    LeaseLostError,
    LeaseMissingError,
    LeaseStoreUnavailableError,
)

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

log = structlog.get_logger(__name__)

TRIM_HORIZON: Final = "TRIM_HORIZON"
LATEST: Final = "LATEST"
SHARD_END: Final = "SHARD_END"
SENTINELS: Final = frozenset({TRIM_HORIZON, LATEST, SHARD_END})


def stream_label(stream_arn: str) -> str:
    return stream_arn.rsplit("/", 1)[-1]


def lease_key(label: str, shard_id: str) -> str:
    return f"{label}#{shard_id}"


@dataclass(frozen=True, slots=True)
class Lease:
    key: str
    shard_id: str
    counter: int
    owner: str | None
    checkpoint: str
    parent_shard_id: str | None = None
    child_shard_ids: tuple[str, ...] = ()
    handoff_to: str | None = None
    owner_switches: int = 0

    @property
    def finished(self) -> bool:
        return self.checkpoint == SHARD_END


def _lease_from_item(item: Mapping[str, Any]) -> Lease:
    values = dynamo.decode(item)
    return Lease(
        key=values["lease_key"],
        shard_id=values["shard_id"],
        counter=values["counter"],
        owner=values.get("owner"),
        checkpoint=values.get("checkpoint") or TRIM_HORIZON,
        parent_shard_id=values.get("parent_shard_id"),
        child_shard_ids=tuple(values.get("child_shard_ids", ())),
        handoff_to=values.get("handoff_to"),
        owner_switches=values.get("owner_switches", 0),
    )


def _condition_failed(exc: BotoCoreError | ClientError, operation: str) -> bool:
    failure = classify(exc, service="dynamodb", operation=operation)
    return failure.kind is ErrorKind.CONDITION_FAILED


class LeaseStore:
    """Conditional reads and writes of the leases table; knows nothing of shards or readers.

    A failed condition may be spurious: the SDK can retry a write that in fact succeeded,
    and the retry then fails its own condition. Every write therefore re-reads the item
    and accepts it when it shows exactly the state the write would have produced.
    """

    def __init__(
        self,
        *,
        client: DynamoDBClient,
        table_name: str,
        finished_retention_s: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._client = client
        self._table = table_name
        self._finished_retention_s = finished_retention_s
        self._clock = clock

    async def list_leases(self, label: str) -> list[Lease]:
        leases: list[Lease] = []
        start_key: dict[str, Any] | None = None
        while True:
            try:
                if start_key is None:
                    page = await self._client.scan(
                        TableName=self._table,
                        ConsistentRead=True,
                        FilterExpression="begins_with(lease_key, :prefix)",
                        ExpressionAttributeValues=dynamo.encode({":prefix": f"{label}#"}),
                    )
                else:
                    page = await self._client.scan(
                        TableName=self._table,
                        ConsistentRead=True,
                        FilterExpression="begins_with(lease_key, :prefix)",
                        ExpressionAttributeValues=dynamo.encode({":prefix": f"{label}#"}),
                        ExclusiveStartKey=start_key,
                    )
            except (BotoCoreError, ClientError) as exc:
                raise LeaseStoreUnavailableError("scanning the leases table failed") from exc
            leases.extend(_lease_from_item(item) for item in page.get("Items", []))
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                return leases

    async def get(self, key: str) -> Lease | None:
        try:
            response = await self._client.get_item(
                TableName=self._table, Key=dynamo.encode({"lease_key": key}), ConsistentRead=True
            )
        except (BotoCoreError, ClientError) as exc:
            raise LeaseStoreUnavailableError("reading a lease failed") from exc
        item = response.get("Item")
        return None if item is None else _lease_from_item(item)

    async def create(
        self, *, label: str, shard_id: str, parent_shard_id: str | None, checkpoint: str
    ) -> bool:
        """Create an unowned lease unless one exists; returns whether this call created it."""
        item = dynamo.encode(
            {
                "lease_key": lease_key(label, shard_id),
                "stream_label": label,
                "shard_id": shard_id,
                "counter": 0,
                "checkpoint": checkpoint,
                "owner_switches": 0,
                "updated_at": self._now(),
                "parent_shard_id": parent_shard_id,
            }
        )
        try:
            await self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(lease_key)",
            )
        except (BotoCoreError, ClientError) as exc:
            if _condition_failed(exc, "PutItem"):
                return False
            raise LeaseStoreUnavailableError("creating a lease failed") from exc
        return True

    async def renew(self, lease: Lease, *, owner: str) -> Lease:
        return await self._update(
            lease,
            owner=owner,
            update="SET #counter = #counter + :one, updated_at = :now",
            values={},
            accept=lambda now: now.owner == owner,
        )

    async def take(self, lease: Lease, *, owner: str) -> Lease:
        """Take a lease whose counter we last saw as `lease.counter` (unowned or expired)."""
        return await self._update(
            lease,
            owner=None,
            update=(
                "SET #owner = :me, #counter = #counter + :one, updated_at = :now, "
                "owner_switches = if_not_exists(owner_switches, :zero) + :one "
                "REMOVE handoff_to"
            ),
            values={":me": owner, ":zero": 0},
            accept=lambda now: now.owner == owner,
            extra_condition="checkpoint <> :shard_end",
        )

    async def checkpoint(self, lease: Lease, *, owner: str, checkpoint: str) -> Lease:
        return await self._update(
            lease,
            owner=owner,
            update=(
                "SET #counter = #counter + :one, updated_at = :now, checkpoint = :cp, "
                "owner_switches = :zero"
            ),
            values={":cp": checkpoint, ":zero": 0},
            accept=lambda now: now.owner == owner and now.checkpoint == checkpoint,
        )

    async def finish(self, lease: Lease, *, owner: str, child_shard_ids: list[str]) -> Lease:
        """Write SHARD_END and let go; the row expires once its lineage cannot be replayed."""
        expires_at = int(self._clock.time() + self._finished_retention_s)
        return await self._update(
            lease,
            owner=owner,
            update=(
                "SET #counter = #counter + :one, updated_at = :now, checkpoint = :shard_end, "
                "child_shard_ids = :children, expires_at = :expires REMOVE #owner, handoff_to"
            ),
            values={":children": list(child_shard_ids), ":expires": expires_at},
            accept=lambda now: now.finished,
        )

    async def release(
        self, lease: Lease, *, owner: str, checkpoint: str | None, to: str | None = None
    ) -> Lease:
        """Let go of a lease, optionally writing a final checkpoint and naming the next owner."""
        sets = ["#counter = #counter + :one", "updated_at = :now"]
        values: dict[str, Any] = {}
        if checkpoint is not None:
            sets.append("checkpoint = :cp")
            values[":cp"] = checkpoint
        if to is not None:
            sets.append("#owner = :to")
            values[":to"] = to
        removes = ["handoff_to"] if to is not None else ["#owner", "handoff_to"]
        update = f"SET {', '.join(sets)} REMOVE {', '.join(removes)}"
        return await self._update(
            lease,
            owner=owner,
            update=update,
            values=values,
            accept=lambda now: (
                now.owner == to and (checkpoint is None or now.checkpoint == checkpoint)
            ),
        )

    async def request_handoff(self, lease: Lease, *, requester: str) -> bool:
        """Ask the lease's owner to hand it over; the counter does not move (no fencing)."""
        if lease.owner is None:
            return False
        try:
            await self._client.update_item(
                TableName=self._table,
                Key=dynamo.encode({"lease_key": lease.key}),
                UpdateExpression="SET handoff_to = :me, updated_at = :now",
                ConditionExpression="#owner = :owner AND attribute_not_exists(handoff_to)",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues=dynamo.encode(
                    {":me": requester, ":owner": lease.owner, ":now": self._now()}
                ),
            )
        except (BotoCoreError, ClientError) as exc:
            if _condition_failed(exc, "UpdateItem"):
                return False
            raise LeaseStoreUnavailableError("requesting a handoff failed") from exc
        return True

    async def _update(
        self,
        lease: Lease,
        *,
        owner: str | None,
        update: str,
        values: dict[str, Any],
        accept: Callable[[Lease], bool],
        extra_condition: str | None = None,
    ) -> Lease:
        condition = "#counter = :expected"
        names = {"#counter": "counter"}
        if "#owner" in update or owner is not None:
            names["#owner"] = "owner"
        all_values: dict[str, Any] = {
            ":expected": lease.counter,
            ":one": 1,
            ":now": self._now(),
            **values,
        }
        if owner is not None:
            condition += " AND #owner = :owner"
            all_values[":owner"] = owner
        if extra_condition is not None:
            condition += f" AND {extra_condition}"
        if ":shard_end" in update or (extra_condition and ":shard_end" in extra_condition):
            all_values[":shard_end"] = SHARD_END
        try:
            response = await self._client.update_item(
                TableName=self._table,
                Key=dynamo.encode({"lease_key": lease.key}),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=dynamo.encode(all_values),
                ReturnValues="ALL_NEW",
            )
        except (BotoCoreError, ClientError) as exc:
            if not _condition_failed(exc, "UpdateItem"):
                raise LeaseStoreUnavailableError("updating a lease failed") from exc
            return await self._confirm(lease, accept, exc)
        return _lease_from_item(response["Attributes"])

    async def _confirm(
        self, lease: Lease, accept: Callable[[Lease], bool], exc: Exception
    ) -> Lease:
        current = await self.get(lease.key)
        if current is None:
            raise LeaseMissingError(f"lease {lease.key} no longer exists") from exc
        if current.counter == lease.counter + 1 and accept(current):
            log.info("lease_write_confirmed_after_retry", lease_key=lease.key)
            return current
        raise LeaseLostError(f"lease {lease.key} changed underneath us") from exc

    def _now(self) -> int:
        # For humans and dashboards only: no decision ever compares hosts' wall clocks.
        return int(self._clock.time())
