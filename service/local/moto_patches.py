"""Corrections to moto's server (and werkzeug's, under it) for the embedded AWS.

`service.local.embedded_aws` applies them before it builds its server, whether it runs as
a thread of the test process or as the sandbox's own process. Each patch says which moto
behaviour it corrects, why the bridge cares, and when it can go. Each first checks that
what it replaces still looks like what it was written against (moto 5.2.5, werkzeug 3.1)
and raises `MotoPatchError` otherwise: after an upgrade the embedded AWS refuses to start
rather than run silently unpatched or half-patched. When that happens, read the new code,
then adapt or drop the patch (its tests in tests/integration/local say what must hold).

Everything here relies on one rule set up by `serialized`: a single request touches moto's
backends at a time. moto keeps its state in plain dicts and lists and is not thread-safe
(its docs say so), while werkzeug's threaded server runs every request on its own thread.
"""

from __future__ import annotations

import copy
import functools
import inspect
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class MotoPatchError(RuntimeError):
    """moto or werkzeug changed under a patch: review service/local/moto_patches.py."""


def _require(condition: bool, patch: str, what: str) -> None:  # noqa: FBT001
    if not condition:
        msg = f"moto patch {patch!r}: {what}; review service/local/moto_patches.py"
        raise MotoPatchError(msg)


def _source(function: Callable[..., Any]) -> str:
    return inspect.getsource(function)


def _replace(owner: object, name: str, value: object) -> None:
    """Set `owner.name` (a moto or werkzeug class or module) to `value`."""
    _require(hasattr(owner, name), f"replace {name}", f"{owner!r} has no {name!r} any more")
    setattr(owner, name, value)


# ---------------------------------------------------------------- 1. one request at a time
#
# moto: the threaded server runs requests concurrently against shared dicts. Seen as HTTP
# 500s ("dictionary changed size during iteration" while TransactWriteItems deep-copies a
# table another request writes) and as duplicate stream sequence numbers (patch 2).
# Fix: one process-wide lock around the whole WSGI call. moto is CPU-bound Python under
# the GIL, so serializing costs little; the one place a request waits is an SQS long poll,
# which sleeps inside the backend (SQSBackend.receive_message loops over
# Queue.wait_for_messages(1)), so that wait releases the lock (patch 1b).
# Drop when moto's server serializes backend access itself (moto documents that it is not
# thread-safe: getmoto/moto#7166).

_BACKENDS = threading.Condition(threading.RLock())
_thread_state = threading.local()


def _serialized_here() -> bool:
    return bool(getattr(_thread_state, "serialized", False))


def serialized(app: WSGIApplication) -> WSGIApplication:
    """`app`, run by one thread at a time (the response body is built before it returns)."""

    def call(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with _BACKENDS:
            _thread_state.serialized = True
            try:
                return app(environ, start_response)
            finally:
                _thread_state.serialized = False

    return call


def _patch_sqs_long_poll() -> None:
    # 1b. The SQS long poll must not hold the lock while it sleeps: a 20 s poll would stall
    # every other request. moto's receive_message scans the queue, then calls
    # queue.wait_for_messages(1) and scans again until WaitTimeSeconds is over; here that
    # wait releases the lock (Condition.wait) and ends early when a message arrives.
    from moto.sqs.models import Queue, SQSBackend  # noqa: PLC0415

    name = "sqs-long-poll-releases-lock"
    _require(
        "queue.wait_for_messages(1)" in _source(SQSBackend.receive_message),
        name,
        "SQSBackend.receive_message no longer waits through Queue.wait_for_messages(1)",
    )
    _require(
        "self._messages_lock.notify_all()" in _source(Queue.add_message),
        name,
        "Queue.add_message no longer notifies waiting receivers",
    )
    wait_unserialized = Queue.wait_for_messages
    add_message = Queue.add_message

    @functools.wraps(wait_unserialized)
    def wait_for_messages(self: Any, timeout: int) -> None:
        if not _serialized_here():
            wait_unserialized(self, timeout)
            return
        _BACKENDS.wait(timeout)

    @functools.wraps(add_message)
    def add_and_notify(self: Any, message: Any) -> None:
        add_message(self, message)
        if _serialized_here():
            _BACKENDS.notify_all()

    _replace(Queue, "wait_for_messages", wait_for_messages)
    _replace(Queue, "add_message", add_and_notify)


# ---------------------------------------------------------------- 2. stream sequence numbers
#
# moto: StreamShard.add computes `seq = len(self.items) + start`, builds the record (slow:
# JSON of both images), then appends. Two concurrent writes get the same number; GetRecords
# maps a sequence number to a list index, so a reader checkpointing by sequence number
# reads one record twice and skips the other: 1 message lost in 3,487 in a load run.
# Fix: number and append atomically. The request lock (1) already ensures this in the
# server; this patch keeps it true for any other caller of the backend.
# Drop when StreamShard.add assigns sequence numbers under a lock upstream.


def _patch_stream_sequence_numbers() -> None:
    from moto.dynamodb.models.table import StreamShard  # noqa: PLC0415

    name = "stream-sequence-numbers"
    source = _source(StreamShard.add)
    _require(
        "seq = len(self.items) + self.starting_sequence_number" in source,
        name,
        "StreamShard.add no longer numbers records by list position",
    )
    add = StreamShard.add
    numbering = threading.Lock()

    @functools.wraps(add)
    def add_atomically(self: Any, old: Any, new: Any) -> None:
        with numbering:
            add(self, old, new)

    _replace(StreamShard, "add", add_atomically)


# ---------------------------------------------------------------- 3. TransactWriteItems
#
# moto: DynamoDBBackend.transact_write_items deep-copies every table it touches before it
# starts, to put the copy back if an operation fails: O(table + its stream records) per
# call, the largest cost per bridge message at 1,000 customers. Restoring a copy also
# replaces the Table object, so open shard iterators keep reading the discarded one.
# Fix: while the transaction runs, moto's `copy.deepcopy(table)` returns the table itself;
# beforehand we snapshot only the items the transaction writes (at most 100) and each
# touched table's stream length; on any failure we put those items back and cut the stream
# records the transaction added (a cancelled transaction writes nothing, stream included).
# Drop when moto rolls back per item (no whole-table copy in transact_write_items).

_transaction = threading.local()
# A TransactWriteItems keeps at most this many item snapshots (the API maximum is 100).
_SNAPSHOT_LIMIT = 100


class _TablesNotCopied:
    """Stands in for the `copy` module inside moto.dynamodb.models (see patch 3)."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, self._table_type) and getattr(_transaction, "active", False):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


class _TransactionUndo:
    """What a failed TransactWriteItems must put back: its items and its stream records."""

    def __init__(self, backend: Any, transact_items: list[dict[str, Any]]) -> None:
        from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: PLC0415

        self._items: list[tuple[Any, Any, Any, Any]] = []
        self._streams: dict[int, tuple[Any, int]] = {}
        for entry in transact_items[:_SNAPSHOT_LIMIT]:
            for kind, operation in entry.items():
                table = backend.tables.get(operation.get("TableName"))
                if table is None:
                    continue
                shard = table.stream_shard
                if shard is not None:
                    self._streams.setdefault(id(shard), (shard, len(shard.items)))
                if kind == "ConditionCheck":
                    continue
                key = operation.get("Item") if kind == "Put" else operation.get("Key")
                try:
                    hash_key = DynamoType(key[table.hash_key_attr])
                    range_key = (
                        DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                    )
                except (KeyError, TypeError, AttributeError):
                    # A malformed key: moto rejects this operation before it writes.
                    continue
                current = table.get_item(hash_key, range_key)
                self._items.append((table, hash_key, range_key, copy.deepcopy(current)))

    def restore(self) -> None:
        for table, hash_key, range_key, item in reversed(self._items):
            stored = table.items if range_key is None else table.items[hash_key]
            key = hash_key if range_key is None else range_key
            if item is None:
                stored.pop(key, None)
            else:
                stored[key] = item
        for shard, length in self._streams.values():
            del shard.items[length:]


def _patch_transact_write_items() -> None:
    import moto.dynamodb.models as dynamodb_models  # noqa: PLC0415
    from moto.dynamodb.models.table import Table  # noqa: PLC0415

    name = "transact-write-items-no-table-copy"
    backend_type = dynamodb_models.DynamoDBBackend
    source = _source(backend_type.transact_write_items)
    _require(
        vars(dynamodb_models).get("copy") is copy,
        name,
        "moto.dynamodb.models no longer imports copy",
    )
    _require(
        "original_table_state[table_name] = copy.deepcopy(" in source
        and "self.tables[table_name] = original_table_state[table_name]" in source,
        name,
        "DynamoDBBackend.transact_write_items no longer copies and restores whole tables",
    )
    transact = backend_type.transact_write_items

    @functools.wraps(transact)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        undo = _TransactionUndo(self, transact_items)
        _transaction.active = True
        try:
            transact(self, transact_items)
        except BaseException:
            undo.restore()
            raise
        finally:
            _transaction.active = False

    _replace(dynamodb_models, "copy", _TablesNotCopied(Table))
    _replace(backend_type, "transact_write_items", transact_write_items)


# ---------------------------------------------------------------- applying them

_PATCHES: tuple[Callable[[], None], ...] = (
    _patch_sqs_long_poll,
    _patch_stream_sequence_numbers,
    _patch_transact_write_items,
)
_applied = False
_applying = threading.Lock()


def apply() -> None:
    """Patch moto and werkzeug in this process, once; `MotoPatchError` if they changed."""
    global _applied  # noqa: PLW0603  process-wide by nature: moto's classes are
    with _applying:
        if _applied:
            return
        for patch in _PATCHES:
            patch()
        _applied = True
