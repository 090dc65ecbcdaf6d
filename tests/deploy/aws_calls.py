"""Which IAM actions the production code needs, read from its source with `ast`.

A call is an AWS call when its receiver is known to be a client:
- an attribute `self.<name>` assigned in `__init__` from a parameter annotated with a client
  type, or a parameter annotated with one;
- a field of `AwsClients` (`clients.sqs.get_queue_url(...)`), from its annotations.
Client types are the `...Client` names imported from `types_aiobotocore_<service>`, plus
`Protocol` classes of the project whose method annotations use exactly one such package's
type definitions (`consumers/shards.py`'s `StreamsClient`). The method name is mapped to
the botocore operation through the service model, then to the IAM action.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeGuard

import botocore.session
from botocore import xform_name

TYPES_PACKAGE = "types_aiobotocore_"
AWS_CLIENTS_CLASS = "AwsClients"
# IAM prefixes that differ from the botocore service name.
IAM_PREFIX = {"dynamodbstreams": "dynamodb", "socialmessaging": "social-messaging"}
# Authorized by participant/connection tokens, not IAM.
NOT_IAM = frozenset({"connectparticipant"})
# Batch operations authorized by their single-message action.
BATCH_ACTIONS = {
    ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
    ("sqs", "SendMessageBatch"): "SendMessage",
    # Not a batch, but the same kind of mapping: S3 authorizes listing by s3:ListBucket.
    ("s3", "ListObjectsV2"): "ListBucket",
}
# TransactWriteItems is authorized by the actions of its items (DynamoDB developer guide,
# "Using IAM with DynamoDB transactions"); the item kinds are the keys of the item dicts.
TRANSACTION_ITEMS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
# Client methods that are not operations, and what they stand for.
PRESIGN = "generate_presigned_url"


class UnknownCallError(Exception):
    """A client method the scanner cannot map to an operation (teach it, do not skip it)."""


@dataclass(frozen=True, slots=True)
class AwsCall:
    path: Path
    line: int
    service: str
    method: str


@cache
def operations(service: str) -> dict[str, str]:
    """snake_case method name → operation name, from botocore's service model."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(name): name for name in model.operation_names}


def _annotation_names(node: ast.expr | None) -> set[str]:
    if node is None:
        return set()
    names: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            names.add(child.id)
        elif isinstance(child, ast.Attribute):
            names.add(child.attr)
        elif isinstance(child, ast.Constant) and isinstance(child.value, str):
            # String annotations ("DynamoDBClient").
            try:
                names |= _annotation_names(ast.parse(child.value, mode="eval").body)
            except SyntaxError:
                continue
    return names


def _type_imports(tree: ast.Module) -> dict[str, str]:
    """Names imported from types_aiobotocore_* packages → botocore service name."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(TYPES_PACKAGE):
            service = (node.module or "").removeprefix(TYPES_PACKAGE).split(".")[0]
            for alias in node.names:
                found[alias.asname or alias.name] = service
    return found


def _protocol_clients(tree: ast.Module) -> dict[str, str]:
    """Project Protocol classes that stand for one service's client."""
    imports = _type_imports(tree)
    found: dict[str, str] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        if "Protocol" not in {name for base in node.bases for name in _annotation_names(base)}:
            continue
        services = {
            imports[name]
            for item in node.body
            if isinstance(item, ast.AsyncFunctionDef | ast.FunctionDef)
            for arg in (*item.args.args, *item.args.kwonlyargs, item.args.kwarg)
            if arg is not None
            for name in _annotation_names(arg.annotation) | _annotation_names(item.returns)
            if name in imports
        }
        if len(services) == 1:
            found[node.name] = services.pop()
    return found


def _aws_clients_fields(tree: ast.Module, clients: dict[str, str]) -> dict[str, str]:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == AWS_CLIENTS_CLASS:
            return {
                item.target.id: service
                for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                for name in _annotation_names(item.annotation)
                if (service := clients.get(name)) is not None
            }
    return {}


@dataclass(frozen=True, slots=True)
class _Types:
    clients: dict[str, str]  # client type name → service
    aws_clients_fields: dict[str, str]  # AwsClients field → service


def _client_types(files: Iterable[tuple[Path, ast.Module]]) -> _Types:
    clients: dict[str, str] = {}
    trees = list(files)
    for _, tree in trees:
        clients |= {
            name: service
            for name, service in _type_imports(tree).items()
            if name.endswith("Client")
        }
        clients |= _protocol_clients(tree)
    fields: dict[str, str] = {}
    for _, tree in trees:
        fields |= _aws_clients_fields(tree, clients)
    return _Types(clients=clients, aws_clients_fields=fields)


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.arg]:
    args = function.args
    yield from (*args.posonlyargs, *args.args, *args.kwonlyargs)


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: Path, types: _Types) -> None:
        self._path = path
        self._types = types
        self._attributes: dict[str, str] = {}  # self.<attr> → service (current class)
        self._names: list[dict[str, str]] = [{}]  # local name → service, per function
        self._aws_clients: list[set[str]] = [set()]  # local names of type AwsClients
        self.calls: list[AwsCall] = []

    def _service_of_annotation(self, annotation: ast.expr | None) -> str | None:
        for name in _annotation_names(annotation):
            if name in self._types.clients:
                return self._types.clients[name]
        return None

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        saved = self._attributes
        self._attributes = self._class_attributes(node)
        self.generic_visit(node)
        self._attributes = saved

    def _class_attributes(self, node: ast.ClassDef) -> dict[str, str]:
        attributes: dict[str, str] = {}
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                service = self._service_of_annotation(item.annotation)
                if service is not None:
                    attributes[item.target.id] = service
            if not isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            parameters = {
                arg.arg: service
                for arg in _parameters(item)
                if (service := self._service_of_annotation(arg.annotation)) is not None
            }
            for statement in ast.walk(item):
                targets: list[ast.expr] = []
                value: ast.expr | None = None
                if isinstance(statement, ast.Assign):
                    targets, value = statement.targets, statement.value
                elif isinstance(statement, ast.AnnAssign):
                    targets, value = [statement.target], statement.value
                    service = self._service_of_annotation(statement.annotation)
                    if service is not None and _is_self_attribute(statement.target):
                        attributes[statement.target.attr] = service
                if isinstance(value, ast.Name) and value.id in parameters:
                    for target in targets:
                        if _is_self_attribute(target):
                            attributes[target.attr] = parameters[value.id]
        return attributes

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        names: dict[str, str] = {}
        aws_clients: set[str] = set()
        for arg in _parameters(node):
            service = self._service_of_annotation(arg.annotation)
            if service is not None:
                names[arg.arg] = service
            if AWS_CLIENTS_CLASS in _annotation_names(arg.annotation):
                aws_clients.add(arg.arg)
        self._names.append({**self._names[-1], **names})
        self._aws_clients.append(self._aws_clients[-1] | aws_clients)
        self.generic_visit(node)
        self._names.pop()
        self._aws_clients.pop()

    visit_FunctionDef = _visit_function  # noqa: N815  ast.NodeVisitor's naming
    visit_AsyncFunctionDef = _visit_function  # noqa: N815  ast.NodeVisitor's naming

    def _receiver_service(self, receiver: ast.expr) -> str | None:
        if _is_self_attribute(receiver):
            return self._attributes.get(receiver.attr)
        if isinstance(receiver, ast.Name):
            return self._names[-1].get(receiver.id)
        if (
            isinstance(receiver, ast.Attribute)
            and isinstance(receiver.value, ast.Name)
            and receiver.value.id in self._aws_clients[-1]
        ):
            return self._types.aws_clients_fields.get(receiver.attr)
        return None

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute):
            service = self._receiver_service(node.func.value)
            if service is not None:
                method = node.func.attr
                if method == PRESIGN:
                    method = _presigned_method(node)
                self.calls.append(
                    AwsCall(path=self._path, line=node.lineno, service=service, method=method)
                )
        self.generic_visit(node)


def _is_self_attribute(node: ast.expr) -> TypeGuard[ast.Attribute]:
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    )


def _presigned_method(node: ast.Call) -> str:
    """`generate_presigned_url("get_object", ...)` stands for a GetObject by the link holder."""
    argument: ast.expr | None = node.args[0] if node.args else None
    for keyword in node.keywords:
        if keyword.arg == "ClientMethod":
            argument = keyword.value
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return argument.value
    raise UnknownCallError(f"line {node.lineno}: presigned URL for a method not given literally")


def _transaction_actions(tree: ast.Module) -> set[str]:
    """The item kinds of the transactions a module builds (keys of its dict literals)."""
    return {
        TRANSACTION_ITEMS[key.value]
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        for key in node.keys
        if isinstance(key, ast.Constant) and key.value in TRANSACTION_ITEMS
    }


def iam_actions(call: AwsCall, tree: ast.Module) -> set[str]:
    if call.service in NOT_IAM:
        return set()
    known = operations(call.service)
    if call.method not in known:
        raise UnknownCallError(
            f"{call.path}:{call.line}: {call.service} client has no operation {call.method!r}"
        )
    operation = known[call.method]
    prefix = IAM_PREFIX.get(call.service, call.service)
    if (call.service, operation) == ("dynamodb", "TransactWriteItems"):
        actions = _transaction_actions(tree)
        if not actions:
            raise UnknownCallError(f"{call.path}:{call.line}: transaction items not found")
        return {f"dynamodb:{action}" for action in actions}
    operation = BATCH_ACTIONS.get((call.service, operation), operation)
    return {f"{prefix}:{operation}"}


def python_files(root: Path, *, exclude: Iterable[Path] = ()) -> list[Path]:
    excluded = [path.resolve() for path in exclude]
    return sorted(
        path
        for path in root.rglob("*.py")
        if not any(path.resolve().is_relative_to(folder) for folder in excluded)
    )


def scan(files: Iterable[Path]) -> tuple[list[AwsCall], set[str]]:
    """Every AWS call in `files` and the IAM actions they need."""
    parsed = [
        (path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))) for path in files
    ]
    types = _client_types(parsed)
    calls: list[AwsCall] = []
    actions: set[str] = set()
    for path, tree in parsed:
        scanner = _Scanner(path, types)
        scanner.visit(tree)
        calls.extend(scanner.calls)
        for call in scanner.calls:
            actions |= iam_actions(call, tree)
    return calls, actions
