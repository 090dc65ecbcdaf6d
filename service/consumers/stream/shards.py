"""Shard discovery: the DescribeStream walk, child look-ups and the parents-first rule."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Unpack

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from service.aws_errors import ErrorKind, classify
from service.consumers.stream.errors import StreamThrottledError, StreamUnavailableError
from service.consumers.stream.leases import Lease

if TYPE_CHECKING:
    from types_aiobotocore_dynamodbstreams.type_defs import (
        DescribeStreamInputTypeDef,
        DescribeStreamOutputTypeDef,
        GetRecordsInputTypeDef,
        GetRecordsOutputTypeDef,
        GetShardIteratorInputTypeDef,
        GetShardIteratorOutputTypeDef,
        ShardTypeDef,
    )

log = structlog.get_logger(__name__)

_SHARD_ID_TIME = re.compile(r"^shardId-(\d{20})-")


class StreamsClient(Protocol):
    """The part of the aiobotocore DynamoDB Streams client the consumer calls."""

    async def describe_stream(
        self, **kwargs: Unpack[DescribeStreamInputTypeDef]
    ) -> DescribeStreamOutputTypeDef: ...

    async def get_shard_iterator(
        self, **kwargs: Unpack[GetShardIteratorInputTypeDef]
    ) -> GetShardIteratorOutputTypeDef: ...

    async def get_records(
        self, **kwargs: Unpack[GetRecordsInputTypeDef]
    ) -> GetRecordsOutputTypeDef: ...


@dataclass(frozen=True, slots=True)
class ShardInfo:
    shard_id: str
    parent_shard_id: str | None
    closed: bool


@dataclass(frozen=True, slots=True)
class StreamView:
    status: str | None
    shards: Mapping[str, ShardInfo]


def shard_created_at(shard_id: str) -> float | None:
    """Creation time (epoch seconds) embedded in a shard id, when it has the usual form."""
    match = _SHARD_ID_TIME.match(shard_id)
    return None if match is None else int(match.group(1)) / 1000.0


def _shard_info(shard: ShardTypeDef) -> ShardInfo | None:
    shard_id = shard.get("ShardId")
    if shard_id is None:
        return None
    ending = shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber")
    return ShardInfo(
        shard_id=shard_id,
        parent_shard_id=shard.get("ParentShardId"),
        closed=ending is not None,
    )


class ShardDiscovery:
    def __init__(self, *, streams: StreamsClient, stream_arn: str, page_limit: int) -> None:
        self._streams = streams
        self._arn = stream_arn
        self._page_limit = page_limit

    async def describe(self) -> StreamView:
        """Every shard DescribeStream lists, all pages walked."""
        shards: dict[str, ShardInfo] = {}
        status: str | None = None
        start: str | None = None
        visited: set[str] = set()
        while True:
            description = (await self._describe_page(start, child_of=None))["StreamDescription"]
            status = description.get("StreamStatus", status)
            for raw in description.get("Shards", []):
                info = _shard_info(raw)
                if info is not None:
                    shards[info.shard_id] = info
            following = description.get("LastEvaluatedShardId")
            # A page that points back at one already read would loop for ever.
            if not following or following in visited:
                return StreamView(status=status, shards=shards)
            visited.add(following)
            start = following

    async def children_of(self, shard_id: str) -> list[ShardInfo]:
        """The shard's children, found at once through the CHILD_SHARDS filter."""
        children: dict[str, ShardInfo] = {}
        start: str | None = None
        visited: set[str] = set()
        while True:
            description = (await self._describe_page(start, child_of=shard_id))["StreamDescription"]
            for raw in description.get("Shards", []):
                info = _shard_info(raw)
                # Some emulators ignore the filter and list the shard itself: keep real children.
                if info is not None and info.parent_shard_id == shard_id:
                    children[info.shard_id] = info
            following = description.get("LastEvaluatedShardId")
            if not following or following in visited:
                return sorted(children.values(), key=lambda info: info.shard_id)
            visited.add(following)
            start = following

    async def _describe_page(
        self, start: str | None, *, child_of: str | None
    ) -> DescribeStreamOutputTypeDef:
        try:
            if child_of is not None and start is not None:
                return await self._streams.describe_stream(
                    StreamArn=self._arn,
                    Limit=self._page_limit,
                    ExclusiveStartShardId=start,
                    ShardFilter={"Type": "CHILD_SHARDS", "ShardId": child_of},
                )
            if child_of is not None:
                return await self._streams.describe_stream(
                    StreamArn=self._arn,
                    Limit=self._page_limit,
                    ShardFilter={"Type": "CHILD_SHARDS", "ShardId": child_of},
                )
            if start is not None:
                return await self._streams.describe_stream(
                    StreamArn=self._arn, Limit=self._page_limit, ExclusiveStartShardId=start
                )
            return await self._streams.describe_stream(StreamArn=self._arn, Limit=self._page_limit)
        except (BotoCoreError, ClientError) as exc:
            failure = classify(exc, service="dynamodbstreams", operation="DescribeStream")
            if failure.kind is ErrorKind.THROTTLED:
                raise StreamThrottledError("DescribeStream throttled") from exc
            raise StreamUnavailableError(f"DescribeStream failed: {failure.code}") from exc


def parent_blocks(
    lease: Lease,
    *,
    leases_by_shard: Mapping[str, Lease],
    view: StreamView | None,
    now_wall: float,
    missing_parent_block_s: float,
) -> bool:
    """Whether the shard must wait for its parent before it may be read.

    A parent blocks until its lease says SHARD_END. A parent that is in neither the lease
    table nor DescribeStream blocks only while it may still hold records; a parent whose age
    cannot be told from its id is assumed gone rather than blocking for ever.
    """
    parent = lease.parent_shard_id
    if parent is None:
        return False
    parent_lease = leases_by_shard.get(parent)
    if parent_lease is not None:
        return not parent_lease.finished
    if view is not None and parent in view.shards:
        return True
    created = shard_created_at(parent)
    return created is not None and now_wall - created < missing_parent_block_s
