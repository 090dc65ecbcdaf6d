"""One AWS request through the simulator: route, parse, validate, faults, handler, answer.

REST-JSON services go through `protocol`, JSON-protocol ones (Transcribe) through `awsjson`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import structlog
from botocore.model import OperationModel, ServiceModel

from service.local.sim import awsjson
from service.local.sim.errors import AwsError
from service.local.sim.faults import FaultInjector
from service.local.sim.protocol import (
    JSON_PROTOCOL,
    TARGET_HEADER,
    UNKNOWN_OPERATION,
    HttpAnswer,
    HttpRequest,
    Route,
    ServiceCatalog,
    internal_code,
    parse_input,
    serialize_error,
    serialize_output,
    validation_code,
)
from service.local.sim.validation import summarize, validate

# Services whose patterns must match the whole value (their Java validators use
# `matches`): Transcribe answers "Value 'a/b' at 'transcriptionJobName' failed to satisfy
# constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z._-]+".
_FULL_MATCH_PATTERNS: Final = frozenset({"transcribe"})

_log = structlog.get_logger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class AwsDispatcher:
    def __init__(
        self,
        *,
        catalog: ServiceCatalog,
        handlers: Mapping[tuple[str, str], Handler],
        faults: FaultInjector,
    ) -> None:
        missing = {(route.service_name, route.operation_name) for route in catalog.routes} - set(
            handlers
        )
        if missing:
            raise ValueError(f"operations without a handler: {sorted(missing)}")
        self._catalog = catalog
        self._handlers = handlers
        self._faults = faults
        self.calls: dict[str, int] = {}

    async def handle(self, request: HttpRequest) -> HttpAnswer:
        found = self._catalog.match(request)
        if found is None:
            target = request.headers.get(TARGET_HEADER)
            where = target or f"{request.method} {request.raw_path}"
            unknown = AwsError(UNKNOWN_OPERATION, f"No operation at {where}")
            if target is not None:
                return awsjson.serialize_error(None, unknown)
            return serialize_error(None, None, unknown)
        route, labels = found
        operation = route.operation
        name = route.operation_name
        self.calls[name] = self.calls.get(name, 0) + 1
        try:
            return await self._invoke(route, request, labels)
        except AwsError as error:
            _log.info("sim_aws_error", operation=name, code=error.code)
            return _error_answer(route.service, operation, error)
        except Exception:  # noqa: BLE001  a simulator bug must answer 500 as AWS would, not drop the connection
            _log.exception("sim_handler_failed", operation=name)
            return _error_answer(
                route.service,
                operation,
                AwsError(internal_code(operation), "Internal error in the simulator"),
            )

    async def _invoke(
        self, route: Route, request: HttpRequest, labels: dict[str, str]
    ) -> HttpAnswer:
        operation = route.operation
        json_protocol = route.service.protocol == JSON_PROTOCOL
        params = (
            awsjson.parse_input(operation, request)
            if json_protocol
            else parse_input(operation, request, labels)
        )
        errors = validate(
            operation.input_shape,
            params,
            full_match=route.service_name in _FULL_MATCH_PATTERNS,
        )
        if errors:
            raise AwsError(validation_code(operation), summarize(errors))
        fault = self._faults.take(route.service_name, route.operation_name)
        if fault is not None:
            raise AwsError(fault.error, fault.message)
        result = await self._handlers[route.service_name, route.operation_name](params)
        if json_protocol:
            return awsjson.serialize_output(operation, result)
        return serialize_output(operation, result)


def _error_answer(service: ServiceModel, operation: OperationModel, error: AwsError) -> HttpAnswer:
    if service.protocol == JSON_PROTOCOL:
        return awsjson.serialize_error(service, error)
    return serialize_error(service, operation, error)
