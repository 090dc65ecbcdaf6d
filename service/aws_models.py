"""Only the AWS operations the bridge calls, loaded into its clients.

botocore gives every client its service's whole model, documentation included, and keeps
it for the client's life: Connect's alone is 402 operations and 2,384 shapes (8.2 MB of
Python objects), SSM's 5.7 MB, DynamoDB's 3.8 MB, S3's 3.4 MB, for the handful of
operations the bridge uses. `PrunedLoader` hands the bridge's clients a model cut down to
the operations in `BRIDGE_OPERATIONS` and the shapes they reach, without documentation;
requests are built, signed and parsed exactly as before (the same definitions, fewer of
them). The list is exactly the operations the production code calls: a test reads them from
the source, as the IAM permissions test does, so a new call fails the suite until it is
added here (a call missing from the model would fail at once with AttributeError).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from botocore.loaders import Loader

BRIDGE_OPERATIONS: Mapping[str, frozenset[str]] = {
    "connect": frozenset({"CreateParticipant", "StartChatContact", "StartContactStreaming"}),
    "connectparticipant": frozenset(
        {
            "CompleteAttachmentUpload",
            "CreateParticipantConnection",
            "DisconnectParticipant",
            "GetAttachment",
            "GetTranscript",
            "SendEvent",
            "SendMessage",
            "StartAttachmentUpload",
        }
    ),
    "dynamodb": frozenset(
        {
            "BatchGetItem",
            "BatchWriteItem",
            "DeleteItem",
            "DescribeTable",
            "GetItem",
            "PutItem",
            "Query",
            "Scan",
            "TransactWriteItems",
            "UpdateItem",
        }
    ),
    "dynamodbstreams": frozenset({"DescribeStream", "GetRecords", "GetShardIterator"}),
    "s3": frozenset({"GetObject", "ListObjectsV2", "PutObject"}),
    "sns": frozenset({"GetTopicAttributes"}),
    "socialmessaging": frozenset(
        {
            "GetLinkedWhatsAppBusinessAccountPhoneNumber",
            "GetWhatsAppMessageMedia",
            "GetWhatsAppMessageTemplate",
            "ListWhatsAppMessageTemplates",
            "PostWhatsAppMessageMedia",
            "SendWhatsAppMessage",
        }
    ),
    "sqs": frozenset(
        {
            "ChangeMessageVisibilityBatch",
            "DeleteMessage",
            "DeleteMessageBatch",
            "GetQueueUrl",
            "PurgeQueue",
            "ReceiveMessage",
            "SendMessage",
        }
    ),
    "ssm": frozenset({"GetParameter"}),
    "transcribe": frozenset({"GetTranscriptionJob", "StartTranscriptionJob"}),
}

_DOCS = frozenset({"documentation", "documentationUrl"})


def _shape_refs(definition: Mapping[str, Any]) -> Iterator[str]:
    """The names of the shapes one shape or operation definition refers to."""
    for key in ("input", "output", "member", "key", "value"):
        ref = definition.get(key)
        if isinstance(ref, Mapping) and "shape" in ref:
            yield ref["shape"]
    for ref in definition.get("errors", ()):
        yield ref["shape"]
    for ref in definition.get("members", {}).values():
        yield ref["shape"]


def _without_docs(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_docs(v) for k, v in value.items() if k not in _DOCS}
    if isinstance(value, list):
        return [_without_docs(v) for v in value]
    return value


def prune(model: Mapping[str, Any], keep: frozenset[str]) -> dict[str, Any]:
    """`model` with only the operations in `keep`, the shapes they reach, and no docs."""
    unknown = keep - model["operations"].keys()
    if unknown:
        raise ValueError(f"not operations of {model['metadata']['serviceId']}: {sorted(unknown)}")
    operations = {name: model["operations"][name] for name in sorted(keep)}
    shapes: dict[str, Any] = {}
    todo = [ref for op in operations.values() for ref in _shape_refs(op)]
    while todo:
        name = todo.pop()
        if name in shapes:
            continue
        shapes[name] = model["shapes"][name]
        todo.extend(_shape_refs(shapes[name]))
    # Documentation only where botocore never needs it: the top level keeps it (botocore
    # reads the docs of S3's client context parameters when it builds the client).
    return {
        **model,
        "operations": _without_docs(operations),
        "shapes": _without_docs(shapes),
    }


class PrunedLoader(Loader):
    """A botocore data loader whose service models carry only the operations in `keep`."""

    def __init__(self, keep: Mapping[str, frozenset[str]]) -> None:
        super().__init__()
        self._keep = keep
        self._pruned: dict[tuple[str, str | None], dict[str, Any]] = {}

    def load_service_model(
        self, service_name: str, type_name: str, api_version: str | None = None
    ) -> Any:
        keep = self._keep.get(service_name)
        if type_name != "service-2" or keep is None:
            return super().load_service_model(service_name, type_name, api_version)
        pruned = self._pruned.get((service_name, api_version))
        if pruned is None:
            model = super().load_service_model(service_name, type_name, api_version)
            # The base class caches what it loaded (the whole model, alone and with its
            # path); drop it, or the memory this saves would be kept alive by the cache.
            cache: dict[object, object] = self.__dict__["_cache"]  # instance_cache's store
            for key in [key for key, value in cache.items() if _holds(value, model)]:
                del cache[key]
            pruned = self._pruned[service_name, api_version] = prune(model, keep)
        return pruned


_LOADERS: dict[frozenset[tuple[str, frozenset[str]]] | None, Loader] = {}


def shared_loader(operations: Mapping[str, frozenset[str]] | None = None) -> Loader:
    """The process's one loader for `operations` (None: whole models).

    botocore's loader caches what it parsed, but each session makes its own loader: every
    new session parsed the models again (Connect's JSON alone is 1.3 MB, ~10 ms a file),
    which is most of the CPU of opening clients. Models are never changed once loaded, so
    every session of the process can share one loader for each set of operations.
    """
    key = None if operations is None else frozenset(operations.items())
    loader = _LOADERS.get(key)
    if loader is None:
        loader = _LOADERS[key] = Loader() if operations is None else PrunedLoader(operations)
    return loader


def _holds(cached: object, model: object) -> bool:
    return cached is model or (isinstance(cached, tuple) and any(v is model for v in cached))
