"""The AWS JSON 1.1 wire protocol (Transcribe), driven by botocore's service models.

Every operation is `POST /` with `X-Amz-Target: <prefix>.<Operation>` (routed by the
catalog); the body is the whole input structure and the answer the whole output structure,
as `application/x-amz-json-1.1`. Errors carry `__type` and the error shape's message member;
without a modeled status they are 400, or 500 for internal failures, as these services
answer. Members the model does not know are rejected, not dropped, so a typo in the bridge
surfaces here rather than silently changing a job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from botocore.model import OperationModel, ServiceModel, Shape, StructureShape

from service.local.sim.errors import AwsError
from service.local.sim.protocol import (
    HttpAnswer,
    HttpRequest,
    base_headers,
    body_json,
    from_json,
    to_json,
    validation_code,
)
from service.local.sim.validation import camel

CONTENT_TYPE: Final = "application/x-amz-json-1.1"
_SERVER_ERROR_STATUS: Final = 500
_CLIENT_ERROR_STATUS: Final = 400


def unknown_members(shape: Shape, value: object, path: str = "") -> list[str]:
    """Paths of JSON keys that `shape` does not declare, depth first."""
    found: list[str] = []
    if isinstance(shape, StructureShape) and isinstance(value, Mapping):
        wire = {
            member.serialization.get("name", name): name for name, member in shape.members.items()
        }
        for key, item in value.items():
            where = f"{path}.{camel(key)}" if path else camel(str(key))
            if key not in wire:
                found.append(where)
            else:
                found += unknown_members(shape.members[wire[key]], item, where)
    elif shape.type_name == "list" and isinstance(value, list):
        member: Shape = shape.member  # type: ignore[attr-defined]  # ListShape
        for index, item in enumerate(value):
            found += unknown_members(member, item, f"{path}.{index + 1}")
    elif shape.type_name == "map" and isinstance(value, Mapping):
        value_shape: Shape = shape.value  # type: ignore[attr-defined]  # MapShape
        for key, item in value.items():
            found += unknown_members(value_shape, item, f"{path}.{key}")
    return found


def parse_input(operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
    body = body_json(request.body)
    shape = operation.input_shape
    if shape is None:
        return {}
    unknown = unknown_members(shape, body)
    if unknown:
        raise AwsError(
            validation_code(operation),
            "Unrecognized field(s) " + ", ".join(f"'{path}'" for path in unknown),
        )
    parsed = from_json(shape, body)
    return parsed if isinstance(parsed, dict) else {}


def _headers() -> dict[str, str]:
    return base_headers() | {"content-type": CONTENT_TYPE}


def serialize_output(operation: OperationModel, result: Mapping[str, Any]) -> HttpAnswer:
    shape = operation.output_shape
    body = {} if shape is None else to_json(shape, result)
    return HttpAnswer(200, _headers(), json.dumps(body).encode())


def _status(service: ServiceModel | None, code: str) -> int:
    for shape in service.error_shapes if service is not None else []:
        if shape.name == code:
            status = shape.metadata.get("error", {}).get("httpStatusCode")
            if status is not None:
                return int(status)
    return _SERVER_ERROR_STATUS if "Internal" in code else _CLIENT_ERROR_STATUS


def serialize_error(service: ServiceModel | None, error: AwsError) -> HttpAnswer:
    message_key = "Message"
    for shape in service.error_shapes if service is not None else []:
        members = shape.members if isinstance(shape, StructureShape) else {}
        if shape.name == error.code and "Message" not in members:
            message_key = "message"
    headers = _headers() | {"x-amzn-errortype": error.code}
    body = json.dumps({"__type": error.code, message_key: error.message}).encode()
    return HttpAnswer(_status(service, error.code), headers, body)
