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

import base64
import copy
import functools
import hashlib
import inspect
import io
import selectors
import threading
import time
import types
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import IO, TYPE_CHECKING, Any, Protocol, cast

from werkzeug.wsgi import LimitedStream, get_input_stream

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    # moto's handler is werkzeug's with a quieter log; mypy does not read moto (pyproject).
    from werkzeug.serving import WSGIRequestHandler as MotoRequestHandler
else:
    from moto.moto_server.werkzeug_app import MotoRequestHandler


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
        # The body is read before the lock is taken: a client slow to send it (or a large
        # upload) must not stall every other request while moto waits on the socket.
        environ["wsgi.input"] = io.BytesIO(get_input_stream(environ).read())
        environ["wsgi.input_terminated"] = True
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


# ---------------------------------------------------------------- 4. SQS: cheap queue scans
#
# moto: every SendMessage builds the queue's attribute dict (for
# `attributes.get("ContentBasedDeduplication")`), which counts visible, delayed and
# in-flight messages in three scans; every ReceiveMessage lists the visible messages. Each
# message checked reads the clock through moto.core.utils (two datetime objects and two
# imports, about 4 us) once or twice. Worse, for every message it hands out, ReceiveMessage
# checks the retention period through get_queue_attributes(), which builds that dict three
# times. Measured on the backend alone with 1,000 messages queued: 40 ms per send and
# 117 ms per received message, so the sandbox collapses once a backlog forms.
# Fix: (a) the retention check reads the queue's attribute; (b) the visible-message list and
# the three counts read the clock once per scan and compare timestamps inline. Same
# results; with 1,000 messages queued, 0.3 ms per send and 0.2 ms per received message.
# Drop (a) when is_message_valid_based_on_retention_period stops calling
# get_queue_attributes, (b) when moto keeps counts or its clock is cheap.


def _patch_sqs_queue_scans() -> None:
    from moto.sqs.models import Message, Queue, SQSBackend  # noqa: PLC0415

    name = "sqs-queue-scans"
    check = SQSBackend.is_message_valid_based_on_retention_period
    _require(
        "get_queue_attributes" in _source(check),
        name,
        "the retention check no longer goes through get_queue_attributes",
    )
    expected = {
        (Message, "visible"): "current_time > self.visible_at",
        (Message, "delayed"): "current_time < self.delayed_until",
        (Queue, "messages"): "if message.visible and not message.delayed",
        (Queue, "approximate_number_of_messages"): "len(self.messages)",
        (Queue, "approximate_number_of_messages_delayed"): "if m.delayed]",
        (Queue, "approximate_number_of_messages_not_visible"): "if not m.visible]",
    }
    for (owner, attribute), fragment in expected.items():
        prop = vars(owner).get(attribute)
        _require(
            isinstance(prop, property) and prop.fget is not None and fragment in _source(prop.fget),
            name,
            f"{owner.__name__}.{attribute} is no longer `{fragment}`",
        )

    @functools.wraps(check)
    def within_retention(self: Any, queue_name: str, message: Any) -> bool:
        retention_s = int(self.get_queue(queue_name).message_retention_period)
        return bool(message.sent_timestamp / 1000 + retention_s > time.time())

    # moto's clock: milliseconds since the epoch, UTC, as time.time() gives them.
    def visible_messages(self: Any) -> list[Any]:
        now = time.time() * 1000
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def count_visible(self: Any) -> int:
        return len(visible_messages(self))

    def count_delayed(self: Any) -> int:
        now = time.time() * 1000
        return sum(1 for m in self._messages if now < m.delayed_until)

    def count_not_visible(self: Any) -> int:
        now = time.time() * 1000
        return sum(1 for m in self._messages if not now > m.visible_at)

    _replace(SQSBackend, "is_message_valid_based_on_retention_period", within_retention)
    _replace(Queue, "messages", property(visible_messages))
    _replace(Queue, "approximate_number_of_messages", property(count_visible))
    _replace(Queue, "approximate_number_of_messages_delayed", property(count_delayed))
    _replace(Queue, "approximate_number_of_messages_not_visible", property(count_not_visible))


# ---------------------------------------------------------------- 5. fixed cost per request
#
# moto redoes work on every request whose answers never change in a process:
# (a) DomainDispatcherApplication.get_backend_for_host tests `host in
# list_of_moto_modules()`, which lists moto's package directory and stats every entry
# (about 100 system calls), under the dispatcher's own lock; (b) BaseResponse.call_action
# lists the response class's methods with inspect.getmembers (about 0.3 ms) to check that
# the action exists; (c) camelcase_to_underscores, a character loop, converts the same few
# names again and again (fourteen per SQS attribute dict, so per SendMessage and per SNS
# delivery to a queue).
# Fix: remember the answers (they depend only on their argument and on moto's code).
# Drop each when moto caches list_of_moto_modules(), method_names_from_class() and
# camelcase_to_underscores() itself.


def _patch_request_lookups() -> None:
    import moto.sqs.models as sqs_models  # noqa: PLC0415
    from moto.core import responses  # noqa: PLC0415
    from moto.core import utils as core_utils  # noqa: PLC0415
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: PLC0415

    name = "request-lookups-cache"
    lookup = DomainDispatcherApplication.get_backend_for_host
    _require(
        "list_of_moto_modules()" in _source(lookup),
        name,
        "get_backend_for_host no longer lists moto's modules per call",
    )
    _require(
        vars(responses).get("method_names_from_class") is core_utils.method_names_from_class
        and "method_names = method_names_from_class(self.__class__)"
        in _source(responses.BaseResponse.call_action),
        name,
        "BaseResponse.call_action no longer lists the class's methods per call",
    )
    convert = core_utils.camelcase_to_underscores
    users = (responses, sqs_models)
    _require(
        all(vars(module).get("camelcase_to_underscores") is convert for module in users),
        name,
        "moto.core.responses or moto.sqs.models no longer use camelcase_to_underscores",
    )
    _replace(DomainDispatcherApplication, "get_backend_for_host", functools.lru_cache(1024)(lookup))
    _replace(
        responses,
        "method_names_from_class",
        functools.cache(core_utils.method_names_from_class),
    )
    cached_convert = functools.lru_cache(4096)(convert)
    for module in users:
        _replace(module, "camelcase_to_underscores", cached_convert)


# ---------------------------------------------------------------- 6. SNS signing certificate
#
# moto: for every message SNS delivers with its envelope (both of the bridge's
# subscriptions do), Subscription.get_post_data builds and signs a new X.509 certificate,
# signs the message, and keeps the certificate's PEM under a new name for ever: about
# 1.2 ms of the 2.7 ms a Publish costs moto, and 1.5 KB kept per message (a leak in a
# sandbox left running).
# And each new subscription generated its own 2048-bit RSA key on its first message (40-90
# ms of CPU; a test, a reset sandbox or a chaos run subscribes again and again), kept for
# ever by the method's lru_cache.
# Fix: one certificate per subscription, made and published under one name on its first
# message, all signed by one key for the process (as SNS signs a region's messages with
# one certificate). Every message is still signed and verifiable from its envelope. The
# replacement is moto 5.2.5's get_post_data with the certificate hoisted out; the check
# compares moto's source with the one it was copied from.
# Drop when moto reuses the signing certificate.

_SNS_GET_POST_DATA_SHA256 = "dc591399b4d078f5ea6be038b58a14d8f86e08e2ae3e837256146caf1af8c380"
_CERTIFICATE_URL = "_embedded_aws_signing_certificate_url"


def _patch_sns_signing_certificate() -> None:
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415
    from moto.core.models import DEFAULT_ACCOUNT_ID  # noqa: PLC0415
    from moto.core.utils import iso_8601_datetime_with_milliseconds, utcnow  # noqa: PLC0415
    from moto.moto_api._internal import mock_random  # noqa: PLC0415
    from moto.sns.models import Subscription, sns_backends  # noqa: PLC0415

    name = "sns-signing-certificate"
    original = Subscription.get_post_data
    _require(
        hashlib.sha256(_source(original).encode()).hexdigest() == _SNS_GET_POST_DATA_SHA256,
        name,
        "Subscription.get_post_data is not moto 5.2.5's any more: compare it with the copy",
    )

    @functools.cache
    def signing_key() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def private_key(_subscription: Any) -> rsa.RSAPrivateKey:
        return signing_key()

    def certificate_url(subscription: Any) -> str:
        url: str | None = vars(subscription).get(_CERTIFICATE_URL)
        if url is None:
            issuer = [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Amazon"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Amazon RSA 2048 M01"),
            ]
            key = subscription.private_key()
            certificate = (
                x509.CertificateBuilder()
                .subject_name(
                    x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
                )
                .issuer_name(x509.Name(issuer))
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(utcnow())
                .not_valid_after(utcnow() + timedelta(days=365))
                .sign(key, hashes.SHA256())
            )
            key_name = f"SimpleNotificationService-{mock_random.uuid4().hex}.pem"
            region = subscription.topic.sns_backend.region_name
            sns_backends[DEFAULT_ACCOUNT_ID][region]._message_public_keys[key_name] = (  # noqa: SLF001
                certificate.public_bytes(serialization.Encoding.PEM)
            )
            url = f"https://sns.{region}.amazonaws.com/{key_name}"
            vars(subscription)[_CERTIFICATE_URL] = url
        return url

    @functools.wraps(original)
    def get_post_data(
        self: Any,
        message: str,
        message_id: str,
        subject: str | None,
        message_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        timestamp = iso_8601_datetime_with_milliseconds()
        string_to_sign = (
            f"Message\n{message}\nMessageId\n{message_id}\nTimestamp\n{timestamp}\n"
            f"TopicArn\n{self.topic.arn}\nType\nNotification\n"
        )
        signature = self.private_key().sign(
            string_to_sign.encode("UTF-8"), padding.PKCS1v15(), hashes.SHA256()
        )
        post_data: dict[str, Any] = {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": self.topic.arn,
            "Message": message,
            "Timestamp": timestamp,
            "SignatureVersion": "2",
            "Signature": base64.b64encode(signature).decode("utf-8"),
            "SigningCertURL": certificate_url(self),
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"
            f"&SubscriptionArn=arn:aws:sns:us-east-1:{self.account_id}:{self.topic.name}"
            ":2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
        }
        if subject:
            post_data["Subject"] = subject
        if message_attributes:
            post_data["MessageAttributes"] = message_attributes
        return post_data

    _replace(Subscription, "private_key", private_key)
    _replace(Subscription, "get_post_data", get_post_data)


# ---------------------------------------------------------------- 7. HTTP keep-alive
#
# werkzeug: its development server sends `Connection: close` on every response
# (pallets/werkzeug#2397), because http.server does not drain a request body the
# application left unread, and the leftover would be parsed as the next request. So every
# AWS call paid a new TCP connection, and after each response werkzeug waited up to 10 ms
# for stray body bytes (a drain that, on a kept-alive connection, would swallow the next
# request).
# Fix: our handler bounds the request body by its Content-Length (or chunked framing),
# reads whatever the application left after the response, and so may keep the connection
# open; werkzeug's own drain is skipped for it.
# Drop when werkzeug's server supports keep-alive, or when the embedded AWS runs under a
# production WSGI server.

_drain = threading.local()
_DRAIN_CHUNK = 64 * 1024


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _NothingToDrain:
    """The selector werkzeug's post-response drain gets on a kept-alive connection."""

    def register(self, fileobj: object, events: int) -> None:
        pass

    def select(self, timeout: float | None = None) -> list[Any]:
        del timeout
        return []

    def close(self) -> None:
        pass


def _drain_selector() -> selectors.BaseSelector | _NothingToDrain:
    if getattr(_drain, "skip", False):
        return _NothingToDrain()
    return selectors.DefaultSelector()


class KeepAliveRequestHandler(MotoRequestHandler):
    """moto's request handler, with HTTP/1.1 persistent connections."""

    protocol_version = "HTTP/1.1"
    # A response goes out as two writes (headers, then body). On a kept-alive connection,
    # Nagle's algorithm holds the second until the client ACKs the first, which the client
    # delays (~40 ms): measured as 50-60 ms per call instead of ~3 ms. TCP_NODELAY.
    disable_nagle_algorithm = True
    _body: _Readable | None = None
    _in_wsgi = False

    def make_environ(self) -> WSGIEnvironment:
        environ = super().make_environ()
        if not environ.get("wsgi.input_terminated"):  # chunked bodies end by themselves
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
                self.close_connection = True
            environ["wsgi.input"] = LimitedStream(cast("IO[bytes]", self.rfile), length)
            environ["wsgi.input_terminated"] = True
        self._body = environ["wsgi.input"]
        return environ

    def send_header(self, keyword: str, value: str) -> None:
        if (
            self._in_wsgi
            and not self.close_connection
            and keyword.lower() == "connection"
            and value.lower() == "close"
        ):
            return  # werkzeug's blanket close; the body is drained below instead
        super().send_header(keyword, value)

    def run_wsgi(self) -> None:
        self._in_wsgi = True
        _drain.skip = True
        try:
            super().run_wsgi()
        finally:
            _drain.skip = False
            self._in_wsgi = False
            self._finish_body()

    def _finish_body(self) -> None:
        body, self._body = self._body, None
        if body is None or self.close_connection:
            return
        try:
            while body.read(_DRAIN_CHUNK):
                pass
        except Exception:  # noqa: BLE001  any failure to read the body ends the connection
            self.close_connection = True


def _patch_werkzeug_drain() -> None:
    from werkzeug import serving  # noqa: PLC0415

    name = "http-keep-alive"
    run_wsgi = _source(serving.WSGIRequestHandler.run_wsgi)
    _require(
        'self.send_header("Connection", "close")' in run_wsgi
        and "selector = selectors.DefaultSelector()" in run_wsgi,
        name,
        "werkzeug's run_wsgi no longer closes every connection after draining the socket",
    )
    module_source = inspect.getsource(serving)
    _require(
        vars(serving).get("selectors") is selectors
        and module_source.count("selectors.") == run_wsgi.count("selectors."),
        name,
        "werkzeug.serving uses `selectors` outside the post-response drain",
    )
    _replace(
        serving,
        "selectors",
        types.SimpleNamespace(EVENT_READ=selectors.EVENT_READ, DefaultSelector=_drain_selector),
    )


# ---------------------------------------------------------------- applying them

_PATCHES: tuple[Callable[[], None], ...] = (
    _patch_sqs_long_poll,
    _patch_stream_sequence_numbers,
    _patch_transact_write_items,
    _patch_sqs_queue_scans,
    _patch_request_lookups,
    _patch_sns_signing_certificate,
    _patch_werkzeug_drain,
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
