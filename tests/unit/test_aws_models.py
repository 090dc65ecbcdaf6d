"""The bridge's clients carry only the operations it calls, and those completely."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import botocore.session
import pytest
from botocore.model import ServiceModel, Shape

from service.aws import new_session
from service.aws_models import BRIDGE_OPERATIONS, PrunedLoader, prune
from tests.deploy.aws_calls import operations, python_files, scan

SERVICE = Path(__file__).resolve().parents[2] / "service"


def test_the_list_is_exactly_what_the_production_code_calls():
    calls, _ = scan(python_files(SERVICE, exclude=[SERVICE / "local"]))
    called: dict[str, set[str]] = defaultdict(set)
    for call in calls:
        # A presigned URL stands for the operation it signs (S3 GetObject, in the scan).
        called[call.service].add(operations(call.service).get(call.method, call.method))
    assert {service: frozenset(ops) for service, ops in called.items()} == dict(BRIDGE_OPERATIONS)


def _reachable(shape: Shape, seen: set[str]) -> None:
    if shape.name in seen:
        return
    seen.add(shape.name)
    for child in getattr(shape, "members", {}).values():
        _reachable(child, seen)
    for attribute in ("member", "key", "value"):
        child = getattr(shape, attribute, None)
        if isinstance(child, Shape):
            _reachable(child, seen)


@pytest.mark.parametrize("service", sorted(BRIDGE_OPERATIONS))
def test_a_pruned_model_resolves_every_shape_of_its_operations(service):
    full = botocore.session.get_session().get_component("data_loader")
    pruned = prune(full.load_service_model(service, "service-2"), BRIDGE_OPERATIONS[service])
    assert "documentation" not in repr(pruned["operations"]) + repr(pruned["shapes"])
    model = ServiceModel(pruned, service_name=service)
    # What botocore reads of the model beyond the operations (S3's context parameters).
    assert model.client_context_parameters is not None
    assert model.metadata["protocol"]
    assert set(model.operation_names) == BRIDGE_OPERATIONS[service]
    seen: set[str] = set()
    for name in model.operation_names:
        operation = model.operation_model(name)
        for shape in (operation.input_shape, operation.output_shape, *operation.error_shapes):
            if shape is not None:
                _reachable(shape, seen)  # a dangling reference raises here
    assert seen


def test_an_operation_the_service_does_not_have_is_refused():
    full = botocore.session.get_session().get_component("data_loader")
    with pytest.raises(ValueError, match="SendMesage"):
        prune(full.load_service_model("sqs", "service-2"), frozenset({"SendMesage"}))


def test_the_loader_keeps_no_whole_model_alive():
    loader = PrunedLoader({"connect": frozenset({"StartChatContact"})})
    model = loader.load_service_model("connect", "service-2")
    assert list(model["operations"]) == ["StartChatContact"]
    cached = [
        value
        for value in loader.__dict__["_cache"].values()  # what the base class keeps
        for value in (value if isinstance(value, tuple) else (value,))
        if isinstance(value, dict) and "operations" in value
    ]
    assert cached == []
    # Other model types and services pass through whole.
    assert loader.load_service_model("connect", "endpoint-rule-set-1")["rules"]
    assert len(loader.load_service_model("sqs", "service-2")["operations"]) > 20


def test_every_session_of_the_process_shares_one_parse_of_each_model():
    pruned = [new_session(BRIDGE_OPERATIONS).get_component("data_loader") for _ in range(2)]
    whole = [new_session().get_component("data_loader") for _ in range(2)]
    first, second = (loader.load_service_model("connect", "service-2") for loader in pruned)
    assert first is second  # parsed and cut down once, not once a session
    assert set(first["operations"]) == BRIDGE_OPERATIONS["connect"]
    full, again = (loader.load_service_model("connect", "service-2") for loader in whole)
    assert full is again
    assert len(full["operations"]) > len(first["operations"])
