"""The CDK app, synthesized once per session (a synthesis takes seconds).

This module must not import `aws_cdk` before `deploy.bridge`: the package selects the
Node.js that jsii runs, and the first `import aws_cdk` starts jsii. pytest imports this
file before the test modules, so they may import `aws_cdk` freely.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from deploy.bridge.assembly import build_app
from deploy.bridge.stack import BridgeStack

if TYPE_CHECKING:
    from aws_cdk.assertions import Template

# A second deployment exercising every option away from its default.
CUSTOM_CONTEXT: dict[str, Any] = {
    "name_prefix": "acme-wa",
    "deletion_protection": "false",
    "connect_instance_id": "11111111-2222-3333-4444-555555555555",
    "contact_flow_id": "66666666-7777-8888-9999-000000000000",
    "existing_config_parameter": "/whatsapp_eum_connect_chat/config",
    "desired_count": "3",
    "max_count": "8",
    "alarm_email": "oncall@example.com",
    "log_retention_days": "90",
    "nat_gateways": "1",
    "vpc_cidr": "10.42.0.0/16",
}


@dataclass(frozen=True)
class Synthesized:
    stack: BridgeStack
    template: dict[str, Any]
    outdir: Path
    seconds: float

    @cached_property
    def assertions(self) -> Template:
        from aws_cdk.assertions import Template  # noqa: PLC0415  see the module docstring

        return Template.from_json(self.template)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template["Resources"]
        return resources

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource["Type"] == resource_type
        }

    def logical_id(self, construct: Any) -> str:
        return self.stack.get_logical_id(construct.node.default_child)


def _synthesize(outdir: Path, context: Mapping[str, Any] | None = None) -> Synthesized:
    started = time.perf_counter()
    with pytest.MonkeyPatch.context() as patch:
        # Only the context given here: not a CLI's, not the developer's shell's.
        patch.delenv("CDK_CONTEXT_JSON", raising=False)
        app, stack = build_app(context=context, outdir=outdir)
        assembly = app.synth()
    template = assembly.get_stack_by_name(stack.stack_name).template
    return Synthesized(
        stack=stack, template=template, outdir=outdir, seconds=time.perf_counter() - started
    )


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The app as `make synth` builds it: default context (cdk.json)."""
    return _synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synthesize(tmp_path_factory.mktemp("cdk.out-custom"), CUSTOM_CONTEXT)
