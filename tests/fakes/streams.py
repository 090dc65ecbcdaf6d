"""A scriptable in-process DynamoDB Streams client.

moto has one shard per table that never closes, never expires an iterator and never trims
or throttles, so lineage, rollover, splits, expiry, trimming and throttling are shown here.
It implements the calls the consumer makes with the real request and response shapes and
raises botocore `ClientError`s with the real error codes, so the production reader runs
against it unchanged.

Realism kept on purpose: sequence numbers are 21-40 digit strings with random gaps (the
default start crosses from 21 to 22 digits, which breaks any string comparison); shard ids
embed their creation time in epoch ms; DescribeStream lists shards in no chronological order
and pages them with `Limit`/`ExclusiveStartShardId`; only a closed, fully read shard returns
no `NextShardIterator`.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Unpack, cast

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from types_aiobotocore_dynamodbstreams.type_defs import (
        DescribeStreamInputTypeDef,
        DescribeStreamOutputTypeDef,
        GetRecordsInputTypeDef,
        GetRecordsOutputTypeDef,
        GetShardIteratorInputTypeDef,
        GetShardIteratorOutputTypeDef,
        RecordTypeDef,
        ShardTypeDef,
    )

ITERATOR_LIFETIME_S = 15 * 60.0
_META = {"RequestId": "fake", "HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0}


def client_error(code: str, operation: str, message: str = "injected") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class FakeShard:
    shard_id: str
    parent_shard_id: str | None
    records: list[RecordTypeDef] = field(default_factory=list)
    closed: bool = False
    trimmed: int = 0  # records before this index are gone
    start_sequence: str = ""
    end_sequence: str | None = None


@dataclass
class _Iterator:
    shard_id: str
    position: int
    issued_at: float


class FakeStreams:
    def __init__(
        self,
        *,
        table: str = "raw-messages",
        label: str = "2026-03-01T00:00:00.000",
        first_sequence: int = 10**21 - 3_000_000,
        created_ms: int | None = None,
        seed: int = 7,
    ) -> None:
        self.arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/{label}"
        self.label = label
        self.status = "ENABLED"
        self.now = 0.0  # the fake's own clock, for iterator expiry
        self.page_size: int | None = None
        self.hidden: set[str] = set()
        self.shown_open: set[str] = set()
        self.calls: Counter[str] = Counter()
        self.get_records_by_shard: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._next_sequence = first_sequence
        # Shards are born "an hour ago" by default, so age rules treat them as live.
        self._next_created_ms = (
            created_ms if created_ms is not None else int(time.time() * 1000) - 3_600_000
        )
        self._shards: dict[str, FakeShard] = {}
        self._iterators: dict[str, _Iterator] = {}
        self._tokens = itertools.count(1)
        self._faults: dict[str, deque[str]] = {}
        self._event_ids = itertools.count(1)

    # ------------------------------------------------------------------ scripting

    def add_shard(self, parent: str | None = None, *, created_ms: int | None = None) -> str:
        if created_ms is None:
            created_ms = self._next_created_ms
            self._next_created_ms += 1_000
        shard_id = f"shardId-{created_ms:020d}-{self._rng.getrandbits(32):08x}"
        self._shards[shard_id] = FakeShard(
            shard_id=shard_id, parent_shard_id=parent, start_sequence=str(self._peek_sequence())
        )
        return shard_id

    def shard(self, shard_id: str) -> FakeShard:
        return self._shards[shard_id]

    def put(
        self,
        shard_id: str,
        *,
        customer: str,
        message_id: str,
        event: str = "INSERT",
        image: dict[str, Any] | None = None,
    ) -> str:
        shard = self._shards[shard_id]
        if shard.closed:
            raise AssertionError(f"{shard_id} is closed")
        sequence = str(self._take_sequence())
        keys = {"customer": {"S": customer}, "message_id": {"S": message_id}}
        body: dict[str, Any] = {
            "ApproximateCreationDateTime": datetime.now(UTC).replace(microsecond=0),
            "Keys": keys,
            "SequenceNumber": sequence,
            "SizeBytes": 120,
            "StreamViewType": "NEW_IMAGE",
        }
        if event != "REMOVE":
            body["NewImage"] = image if image is not None else {**keys, "text": {"S": "hi"}}
        record = {
            "eventID": f"{next(self._event_ids):032x}",
            "eventName": event,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": body,
        }
        if event == "REMOVE":
            record["userIdentity"] = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
        shard.records.append(cast("RecordTypeDef", record))
        return sequence

    def close(self, shard_id: str) -> None:
        shard = self._shards[shard_id]
        shard.closed = True
        last = shard.records[-1]["dynamodb"]["SequenceNumber"] if shard.records else None
        shard.end_sequence = last or shard.start_sequence

    def rollover(self, shard_id: str) -> str:
        self.close(shard_id)
        return self.add_shard(parent=shard_id)

    def split(self, shard_id: str) -> tuple[str, str]:
        self.close(shard_id)
        return self.add_shard(parent=shard_id), self.add_shard(parent=shard_id)

    def trim(self, shard_id: str, count: int) -> None:
        """The oldest `count` records of the shard pass the 24 h retention."""
        shard = self._shards[shard_id]
        shard.trimmed = max(shard.trimmed, min(count, len(shard.records)))

    def fail(self, operation: str, code: str, *, times: int = 1) -> None:
        self._faults.setdefault(operation, deque()).extend([code] * times)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def disable(self) -> None:
        for shard in self._shards.values():
            if not shard.closed:
                self.close(shard.shard_id)
        self.status = "DISABLED"

    def sequence_numbers(self, shard_id: str) -> list[str]:
        return [r["dynamodb"]["SequenceNumber"] for r in self._shards[shard_id].records]

    # ------------------------------------------------------------------ the client API

    async def describe_stream(
        self, **kwargs: Unpack[DescribeStreamInputTypeDef]
    ) -> DescribeStreamOutputTypeDef:
        self._call("DescribeStream", kwargs.get("StreamArn"))
        listed = [s for s in self._shards.values() if s.shard_id not in self.hidden]
        shard_filter = kwargs.get("ShardFilter")
        if shard_filter is not None and shard_filter.get("Type") == "CHILD_SHARDS":
            parent = shard_filter.get("ShardId")
            listed = [s for s in listed if s.parent_shard_id == parent]
        # Not chronological, as in AWS: order is by the id's random suffix.
        listed.sort(key=lambda shard: shard.shard_id.rsplit("-", 1)[-1])
        start = kwargs.get("ExclusiveStartShardId")
        if start is not None:
            ids = [shard.shard_id for shard in listed]
            listed = listed[ids.index(start) + 1 :] if start in ids else []
        limit = min(kwargs.get("Limit", 100), self.page_size or 100)
        page, rest = listed[:limit], listed[limit:]
        description: dict[str, Any] = {
            "StreamArn": self.arn,
            "StreamLabel": self.label,
            "StreamStatus": self.status,
            "StreamViewType": "NEW_IMAGE",
            "TableName": "raw-messages",
            "Shards": [self._describe_shard(shard) for shard in page],
        }
        if rest:
            description["LastEvaluatedShardId"] = page[-1].shard_id
        return cast(
            "DescribeStreamOutputTypeDef",
            {"StreamDescription": description, "ResponseMetadata": _META},
        )

    async def get_shard_iterator(
        self, **kwargs: Unpack[GetShardIteratorInputTypeDef]
    ) -> GetShardIteratorOutputTypeDef:
        operation = "GetShardIterator"
        self._call(operation, kwargs["StreamArn"])
        shard = self._shards.get(kwargs["ShardId"])
        if shard is None:
            raise client_error("ResourceNotFoundException", operation, "shard not found")
        kind = kwargs["ShardIteratorType"]
        if kind == "TRIM_HORIZON":
            position = shard.trimmed
        elif kind == "LATEST":
            position = len(shard.records)
        else:
            wanted = int(kwargs["SequenceNumber"])
            after = kind == "AFTER_SEQUENCE_NUMBER"
            position = next(
                (
                    index
                    for index, record in enumerate(shard.records)
                    if int(record["dynamodb"]["SequenceNumber"]) > wanted
                    or (not after and int(record["dynamodb"]["SequenceNumber"]) == wanted)
                ),
                len(shard.records),
            )
            if position < shard.trimmed:
                raise client_error("TrimmedDataAccessException", operation, "trimmed")
        return cast(
            "GetShardIteratorOutputTypeDef",
            {"ShardIterator": self._issue(shard.shard_id, position), "ResponseMetadata": _META},
        )

    async def get_records(
        self, **kwargs: Unpack[GetRecordsInputTypeDef]
    ) -> GetRecordsOutputTypeDef:
        operation = "GetRecords"
        self._call(operation, None)
        iterator = self._iterators.get(kwargs["ShardIterator"])
        if iterator is None:
            raise client_error("ValidationException", operation, "invalid iterator")
        if self.now - iterator.issued_at >= ITERATOR_LIFETIME_S:
            raise client_error("ExpiredIteratorException", operation, "expired")
        shard = self._shards[iterator.shard_id]
        self.get_records_by_shard[shard.shard_id] += 1
        if iterator.position < shard.trimmed:
            raise client_error("TrimmedDataAccessException", operation, "trimmed")
        limit = kwargs.get("Limit", 1000)
        batch = shard.records[iterator.position : iterator.position + limit]
        position = iterator.position + len(batch)
        response: dict[str, Any] = {"Records": list(batch), "ResponseMetadata": _META}
        if not (shard.closed and position >= len(shard.records)):
            response["NextShardIterator"] = self._issue(shard.shard_id, position)
        return cast("GetRecordsOutputTypeDef", response)

    # ------------------------------------------------------------------ internals

    def _call(self, operation: str, arn: str | None) -> None:
        self.calls[operation] += 1
        faults = self._faults.get(operation)
        if faults:
            raise client_error(faults.popleft(), operation)
        if arn is not None and arn != self.arn:
            raise client_error("ResourceNotFoundException", operation, "stream not found")

    def _issue(self, shard_id: str, position: int) -> str:
        token = f"fakeit-{next(self._tokens)}"
        self._iterators[token] = _Iterator(shard_id, position, self.now)
        return token

    def _peek_sequence(self) -> int:
        return self._next_sequence

    def _take_sequence(self) -> int:
        value = self._next_sequence
        self._next_sequence += self._rng.randint(1, 2_000_000)
        return value

    def _describe_shard(self, shard: FakeShard) -> ShardTypeDef:
        described: dict[str, Any] = {
            "ShardId": shard.shard_id,
            "SequenceNumberRange": {"StartingSequenceNumber": shard.start_sequence},
        }
        if shard.closed and shard.shard_id not in self.shown_open:
            described["SequenceNumberRange"]["EndingSequenceNumber"] = shard.end_sequence
        if shard.parent_shard_id is not None:
            described["ParentShardId"] = shard.parent_shard_id
        return cast("ShardTypeDef", described)
