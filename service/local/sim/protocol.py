"""The REST-JSON wire protocol, driven by botocore's service models, and the routing of all.

Routing by HTTP method and `requestUri` (or, for JSON-protocol services, by the
`X-Amz-Target` header: see `awsjson`), input parsing by member `location` (URI label,
query string, header, JSON body), output serialisation from the output shape, and errors
in the form botocore's rest-json parser turns into the modeled exception classes
(`x-amzn-ErrorType` header, `{"message"}` body, the error shape's HTTP status).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape

from service.local.sim.errors import AwsError

# Used when an error is not declared by the operation or the service (an injected fault).
_FALLBACK_STATUS: Final = (
    ("Validation", 400),
    ("InvalidParameter", 400),
    ("InvalidRequest", 400),
    ("AccessDenied", 403),
    ("ResourceNotFound", 404),
    ("Conflict", 409),
    ("ServiceQuotaExceeded", 402),
    ("Throttling", 429),
    ("LimitExceeded", 429),
    ("ThrottledRequest", 429),
    ("InternalServer", 500),
    ("InternalService", 500),
    ("InternalFailure", 500),
    ("ServiceUnavailable", 503),
    ("UnknownOperation", 404),
)
_VALIDATION_CODES: Final = (
    "ValidationException",
    "InvalidParameterException",
    "InvalidRequestException",
    "BadRequestException",  # Transcribe's answer to a constraint violation
)
_INTERNAL_CODES: Final = ("InternalServerException", "InternalServiceException")
SERIALIZATION_ERROR: Final = "SerializationException"
UNKNOWN_OPERATION: Final = "UnknownOperationException"

# JSON-protocol services (awsJson1_0/1_1) name the operation in this header, not the path.
TARGET_HEADER: Final = "x-amz-target"
JSON_PROTOCOL: Final = "json"

_LABEL = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")


@dataclass(frozen=True, slots=True)
class Route:
    service: ServiceModel
    operation: OperationModel
    method: str
    path: re.Pattern[str]
    required_query: tuple[str, ...]

    @property
    def service_name(self) -> str:
        return str(self.service.service_name)

    @property
    def operation_name(self) -> str:
        return str(self.operation.name)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    raw_path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # keys lower-case
    body: bytes


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


def _compile_uri(request_uri: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    path, _, query = request_uri.partition("?")
    pattern = ""
    position = 0
    for label in _LABEL.finditer(path):
        pattern += re.escape(path[position : label.start()])
        greedy = label.group(2) == "+"
        pattern += f"(?P<{label.group(1)}>{'.+' if greedy else '[^/]+'})"
        position = label.end()
    pattern += re.escape(path[position:])
    required = tuple(part.split("=", 1)[0] for part in query.split("&") if part)
    return re.compile(f"^{pattern}/?$"), required


class ServiceCatalog:
    """The operations the simulator serves, with their models, found by method and path."""

    def __init__(self, served: Mapping[str, Iterable[str]]) -> None:
        session = botocore.session.get_session()
        self._routes: list[Route] = []
        self._targets: dict[str, Route] = {}
        self._models: dict[str, ServiceModel] = {}
        for service_name, operation_names in served.items():
            model = session.get_service_model(service_name)
            self._models[service_name] = model
            for name in operation_names:
                operation = model.operation_model(name)
                path, required = _compile_uri(operation.http["requestUri"])
                route = Route(model, operation, operation.http["method"].upper(), path, required)
                self._routes.append(route)
                if model.protocol == JSON_PROTOCOL:
                    # Every operation of a JSON-protocol service is `POST /`; the target
                    # header names the operation.
                    self._targets[f"{model.metadata['targetPrefix']}.{name}"] = route

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(self._routes)

    def service(self, name: str) -> ServiceModel:
        return self._models[name]

    def match(self, request: HttpRequest) -> tuple[Route, dict[str, str]] | None:
        target = request.headers.get(TARGET_HEADER)
        if target is not None:
            routed = self._targets.get(target)
            return None if routed is None or request.method != "POST" else (routed, {})
        path = request.raw_path.split("?", 1)[0]
        for route in self._routes:
            if route.service.protocol == JSON_PROTOCOL or route.method != request.method:
                continue
            found = route.path.match(path)
            if found and all(key in request.query for key in route.required_query):
                return route, {key: unquote(value) for key, value in found.groupdict().items()}
        return None


# ---------------------------------------------------------------- input


def _parse_timestamp(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            try:
                return datetime.fromtimestamp(float(value), tz=UTC)
            except ValueError:
                return value
    return value


def from_json(shape: Shape, value: object) -> object:
    """JSON value → Python value for `shape`; leaves type mismatches for the validator."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict) and isinstance(shape, StructureShape):
        result: dict[str, object] = {}
        for name, member in shape.members.items():
            key = member.serialization.get("name", name)
            if key in value and value[key] is not None:
                result[name] = from_json(member, value[key])
        return result
    if kind == "list" and isinstance(value, list):
        member_shape: Shape = shape.member  # type: ignore[attr-defined]  # ListShape
        return [from_json(member_shape, item) for item in value]
    if kind == "map" and isinstance(value, dict):
        value_shape: Shape = shape.value  # type: ignore[attr-defined]  # MapShape
        return {key: from_json(value_shape, item) for key, item in value.items()}
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise AwsError(SERIALIZATION_ERROR, "blob member is not valid base64") from exc
    if kind == "timestamp":
        return _parse_timestamp(value)
    return value


def _boolean(text: str) -> object:
    return {"true": True, "false": False}.get(text.lower(), text)


def _blob(text: str) -> object:
    return base64.b64decode(text, validate=True)


_TEXT_CONVERTERS: Final[dict[str, Callable[[str], object]]] = {
    "integer": int,
    "long": int,
    "float": float,
    "double": float,
    "boolean": _boolean,
    "timestamp": _parse_timestamp,
    "blob": _blob,
}


def _from_text(shape: Shape, text: str) -> object:
    """A header / query / URI string → Python value for `shape` (as-is if it does not parse)."""
    converter = _TEXT_CONVERTERS.get(shape.type_name)
    if converter is None:
        return text
    try:
        return converter(text)
    except (ValueError, binascii.Error):
        return text


def body_json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        decoded = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AwsError(SERIALIZATION_ERROR, "request body is not valid JSON") from exc
    if not isinstance(decoded, dict):
        raise AwsError(SERIALIZATION_ERROR, "request body must be a JSON object")
    return decoded


def parse_input(
    operation: OperationModel, request: HttpRequest, labels: Mapping[str, str]
) -> dict[str, Any]:
    """The operation's input members, taken from wherever the model says they travel."""
    shape = operation.input_shape
    if shape is None:
        return {}
    payload_name = shape.serialization.get("payload")
    body = (
        body_json(request.body)
        if payload_name is None or shape.members[payload_name].type_name == "structure"
        else {}
    )
    params: dict[str, Any] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        value: object = None
        if location == "uri":
            value = _from_text(member, labels[wire_name]) if wire_name in labels else None
        elif location == "querystring":
            values = request.query.get(wire_name)
            if values:
                item_shape: Shape | None = getattr(member, "member", None)
                value = (
                    [_from_text(item_shape, item) for item in values]
                    if member.type_name == "list" and item_shape is not None
                    else _from_text(member, values[0])
                )
        elif location == "header":
            text = request.headers.get(wire_name.lower())
            value = None if text is None else _from_text(member, text)
        elif location == "headers":
            prefix = wire_name.lower()
            value = {
                key[len(prefix) :]: item
                for key, item in request.headers.items()
                if key.startswith(prefix)
            } or None
        elif name == payload_name:
            value = (
                from_json(member, body)
                if member.type_name == "structure"
                else (request.body or None)
            )
        elif wire_name in body and body[wire_name] is not None:
            value = from_json(member, body[wire_name])
        if value is not None:
            params[name] = value
    return params


def validation_code(operation: OperationModel) -> str:
    declared = {shape.name for shape in operation.error_shapes}
    return next((code for code in _VALIDATION_CODES if code in declared), _VALIDATION_CODES[0])


def internal_code(operation: OperationModel | None) -> str:
    declared = {shape.name for shape in operation.error_shapes} if operation else set()
    return next((code for code in _INTERNAL_CODES if code in declared), "InternalFailure")


# ---------------------------------------------------------------- output


def to_json(shape: Shape, value: object) -> object:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping) and isinstance(shape, StructureShape):
        result: dict[str, object] = {}
        for name, member in shape.members.items():
            if value.get(name) is not None:
                result[member.serialization.get("name", name)] = to_json(member, value[name])
        return result
    if kind == "list" and isinstance(value, list):
        member_shape: Shape = shape.member  # type: ignore[attr-defined]  # ListShape
        return [to_json(member_shape, item) for item in value]
    if kind == "map" and isinstance(value, Mapping):
        value_shape: Shape = shape.value  # type: ignore[attr-defined]  # MapShape
        return {key: to_json(value_shape, item) for key, item in value.items()}
    if kind == "blob" and isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if kind == "timestamp" and isinstance(value, datetime):
        return value.timestamp()
    return value


def _header_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%a, %d %b %Y %H:%M:%S GMT")
    return str(value)


def base_headers() -> dict[str, str]:
    return {"content-type": "application/json", "x-amzn-requestid": str(uuid.uuid4())}


def serialize_output(operation: OperationModel, result: Mapping[str, Any]) -> HttpAnswer:
    status = int(operation.http.get("responseCode", 200))
    headers = base_headers()
    body: dict[str, object] = {}
    shape = operation.output_shape
    if shape is not None:
        for name, member in shape.members.items():
            value = result.get(name)
            if value is None:
                continue
            location = member.serialization.get("location")
            if location == "header":
                headers[member.serialization.get("name", name).lower()] = _header_text(value)
            elif location == "statusCode":
                status = int(value)
            else:
                body[member.serialization.get("name", name)] = to_json(member, value)
    return HttpAnswer(status, headers, json.dumps(body).encode())


def error_status(service: ServiceModel | None, operation: OperationModel | None, code: str) -> int:
    shapes = list(operation.error_shapes) if operation else []
    if service is not None:
        shapes += [shape for shape in service.error_shapes if shape not in shapes]
    for shape in shapes:
        if shape.name == code:
            status = shape.metadata.get("error", {}).get("httpStatusCode")
            if status is not None:
                return int(status)
    for fragment, status in _FALLBACK_STATUS:
        if fragment in code:
            return status
    return 400


def serialize_error(
    service: ServiceModel | None, operation: OperationModel | None, error: AwsError
) -> HttpAnswer:
    message_key = "message"
    if service is not None:
        for shape in service.error_shapes:
            members = shape.members if isinstance(shape, StructureShape) else {}
            if shape.name == error.code and "Message" in members:
                message_key = "Message"
    headers = base_headers()
    headers["x-amzn-errortype"] = error.code
    body = json.dumps({message_key: error.message}).encode()
    return HttpAnswer(error_status(service, operation, error.code), headers, body)
