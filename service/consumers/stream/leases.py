"""Shard leases in DynamoDB: every write is conditional on the lease counter (the fencing token).

One item per shard, keyed `<stream label>#<shard id>`. The stream label (the stream ARN's last
segment) is part of the key so a stream that is disabled and re-enabled, which gets a new
label, never reuses the old stream's checkpoints. This format is final: changing it would
orphan every checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from service.consumers.stream.errors import (
    LeaseLostError,
    LeaseMissingError,
    LeaseStoreUnavailableError,
)

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef

log = structlog.get_logger(__name__)

TRIM_HORIZON: Final = "TRIM_HORIZON"
LATEST: Final = "LATEST"
SHARD_END: Final = "SHARD_END"
SENTINELS: Final = frozenset({TRIM_HORIZON, LATEST, SHARD_END})

_CONDITION_FAILED = "ConditionalCheckFailedException"


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
    def text(name: str) -> str | None:
        value = item.get(name)
        return None if value is None else str(value["S"])

    children = item.get("child_shard_ids", {}).get("L", [])
    return Lease(
        key=str(item["lease_key"]["S"]),
        shard_id=str(item["shard_id"]["S"]),
        counter=int(item["counter"]["N"]),
        owner=text("owner"),
        checkpoint=text("checkpoint") or TRIM_HORIZON,
        parent_shard_id=text("parent_shard_id"),
        child_shard_ids=tuple(str(child["S"]) for child in children),
        handoff_to=text("handoff_to"),
        owner_switches=int(item.get("owner_switches", {}).get("N", "0")),
    )


def _is_throttle_or_transport(exc: Exception) -> bool:
    return isinstance(exc, BotoCoreError) or (
        isinstance(exc, ClientError)
        and exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED
    )


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
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table_name
        self._finished_retention_s = finished_retention_s
        self._wall_clock = wall_clock

    async def list_leases(self, label: str) -> list[Lease]:
        leases: list[Lease] = []
        start_key: dict[str, AttributeValueTypeDef] | None = None
        while True:
            try:
                if start_key is None:
                    page = await self._client.scan(
                        TableName=self._table,
                        ConsistentRead=True,
                        FilterExpression="begins_with(lease_key, :prefix)",
                        ExpressionAttributeValues={":prefix": {"S": f"{label}#"}},
                    )
                else:
                    page = await self._client.scan(
                        TableName=self._table,
                        ConsistentRead=True,
                        FilterExpression="begins_with(lease_key, :prefix)",
                        ExpressionAttributeValues={":prefix": {"S": f"{label}#"}},
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
                TableName=self._table, Key={"lease_key": {"S": key}}, ConsistentRead=True
            )
        except (BotoCoreError, ClientError) as exc:
            raise LeaseStoreUnavailableError("reading a lease failed") from exc
        item = response.get("Item")
        return None if item is None else _lease_from_item(item)

    async def create(
        self, *, label: str, shard_id: str, parent_shard_id: str | None, checkpoint: str
    ) -> bool:
        """Create an unowned lease unless one exists; returns whether this call created it."""
        item: dict[str, AttributeValueTypeDef] = {
            "lease_key": {"S": lease_key(label, shard_id)},
            "stream_label": {"S": label},
            "shard_id": {"S": shard_id},
            "counter": {"N": "0"},
            "checkpoint": {"S": checkpoint},
            "owner_switches": {"N": "0"},
            "updated_at": {"N": self._now()},
        }
        if parent_shard_id is not None:
            item["parent_shard_id"] = {"S": parent_shard_id}
        try:
            await self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(lease_key)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
                return False
            raise LeaseStoreUnavailableError("creating a lease failed") from exc
        except BotoCoreError as exc:
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
            values={":me": {"S": owner}, ":zero": {"N": "0"}},
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
            values={":cp": {"S": checkpoint}, ":zero": {"N": "0"}},
            accept=lambda now: now.owner == owner and now.checkpoint == checkpoint,
        )

    async def finish(self, lease: Lease, *, owner: str, child_shard_ids: list[str]) -> Lease:
        """Write SHARD_END and let go; the row expires once its lineage cannot be replayed."""
        expires_at = int(self._wall_clock() + self._finished_retention_s)
        return await self._update(
            lease,
            owner=owner,
            update=(
                "SET #counter = #counter + :one, updated_at = :now, checkpoint = :shard_end, "
                "child_shard_ids = :children, expires_at = :expires REMOVE #owner, handoff_to"
            ),
            values={
                ":children": {"L": [{"S": child} for child in child_shard_ids]},
                ":expires": {"N": str(expires_at)},
            },
            accept=lambda now: now.finished,
        )

    async def release(
        self, lease: Lease, *, owner: str, checkpoint: str | None, to: str | None = None
    ) -> Lease:
        """Let go of a lease, optionally writing a final checkpoint and naming the next owner."""
        sets = ["#counter = #counter + :one", "updated_at = :now"]
        values: dict[str, AttributeValueTypeDef] = {}
        if checkpoint is not None:
            sets.append("checkpoint = :cp")
            values[":cp"] = {"S": checkpoint}
        if to is not None:
            sets.append("#owner = :to")
            values[":to"] = {"S": to}
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
                Key={"lease_key": {"S": lease.key}},
                UpdateExpression="SET handoff_to = :me, updated_at = :now",
                ConditionExpression="#owner = :owner AND attribute_not_exists(handoff_to)",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={
                    ":me": {"S": requester},
                    ":owner": {"S": lease.owner},
                    ":now": {"N": self._now()},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
                return False
            raise LeaseStoreUnavailableError("requesting a handoff failed") from exc
        except BotoCoreError as exc:
            raise LeaseStoreUnavailableError("requesting a handoff failed") from exc
        return True

    async def _update(
        self,
        lease: Lease,
        *,
        owner: str | None,
        update: str,
        values: dict[str, AttributeValueTypeDef],
        accept: Callable[[Lease], bool],
        extra_condition: str | None = None,
    ) -> Lease:
        condition = "#counter = :expected"
        names = {"#counter": "counter"}
        if "#owner" in update or owner is not None:
            names["#owner"] = "owner"
        all_values: dict[str, AttributeValueTypeDef] = {
            ":expected": {"N": str(lease.counter)},
            ":one": {"N": "1"},
            ":now": {"N": self._now()},
            **values,
        }
        if owner is not None:
            condition += " AND #owner = :owner"
            all_values[":owner"] = {"S": owner}
        if extra_condition is not None:
            condition += f" AND {extra_condition}"
        if ":shard_end" in update or (extra_condition and ":shard_end" in extra_condition):
            all_values[":shard_end"] = {"S": SHARD_END}
        try:
            response = await self._client.update_item(
                TableName=self._table,
                Key={"lease_key": {"S": lease.key}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=all_values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _is_throttle_or_transport(exc):
                raise LeaseStoreUnavailableError("updating a lease failed") from exc
            return await self._confirm(lease, accept, exc)
        except BotoCoreError as exc:
            raise LeaseStoreUnavailableError("updating a lease failed") from exc
        return _lease_from_item(response["Attributes"])

    async def _confirm(
        self, lease: Lease, accept: Callable[[Lease], bool], exc: ClientError
    ) -> Lease:
        current = await self.get(lease.key)
        if current is None:
            raise LeaseMissingError(f"lease {lease.key} no longer exists") from exc
        if current.counter == lease.counter + 1 and accept(current):
            log.info("lease_write_confirmed_after_retry", lease_key=lease.key)
            return current
        raise LeaseLostError(f"lease {lease.key} changed underneath us") from exc

    def _now(self) -> str:
        # For humans and dashboards only: no decision ever compares hosts' wall clocks.
        return str(int(self._wall_clock()))
