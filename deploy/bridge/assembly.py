"""Builds the CDK app: context → options → stack, with cdk-nag's AWS Solutions checks."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from deploy.bridge.nag import acknowledge_findings
from deploy.bridge.options import DeployOptions, DeployOptionsError, options_from_context
from deploy.bridge.stack import BridgeStack

DEPLOY_DIR = Path(__file__).resolve().parents[1]
CDK_JSON = DEPLOY_DIR / "cdk.json"
DEFAULT_OUTDIR = DEPLOY_DIR / "cdk.out"
STACK_ID = "WhatsAppConnectBridge"


def cdk_json_context() -> dict[str, Any]:
    """The context of deploy/cdk.json, so `python deploy/app.py` and `cdk synth` agree."""
    context = json.loads(CDK_JSON.read_text(encoding="utf-8")).get("context", {})
    if not isinstance(context, dict):
        raise DeployOptionsError(f"{CDK_JSON}: 'context' must be an object")
    return context


def _stack_environment(options: DeployOptions) -> Environment | None:
    if options.vpc_id is None:
        # Environment-agnostic: account and region are CloudFormation pseudo parameters,
        # so synthesis needs no credentials and one template deploys anywhere.
        return None
    # Vpc.from_lookup queries the account: the CDK CLI sets these from its credentials.
    account = os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = os.environ.get("CDK_DEFAULT_REGION")
    if not account or not region:
        raise DeployOptionsError(
            "vpc_id needs the target account and region to look the VPC up: run "
            "`npx aws-cdk synth|deploy -c vpc_id=...` from deploy/ with AWS credentials "
            "(or set CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION)"
        )
    return Environment(account=account, region=region)


def build_app(
    *, context: Mapping[str, Any] | None = None, outdir: str | Path | None = None
) -> tuple[App, BridgeStack]:
    """The app and its stack; `context` overrides cdk.json and the CLI's `-c` values."""
    app = App(
        outdir=str(outdir or os.environ.get("CDK_OUTDIR") or DEFAULT_OUTDIR),
        context=cdk_json_context(),
        post_cli_context=dict(context or {}),
    )
    known = {field.name for field in fields(DeployOptions)}
    values = {key: app.node.try_get_context(key) for key in known}
    options = options_from_context({k: v for k, v in values.items() if v is not None})
    stack = BridgeStack(
        app,
        STACK_ID,
        stack_name=f"{STACK_ID}-{options.name_prefix}",
        description="WhatsApp (AWS End User Messaging Social) to Amazon Connect Chat bridge "
        "on ECS Fargate",
        env=_stack_environment(options),
        options=options,
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    acknowledge_findings(stack)
    return app, stack


def main() -> None:
    try:
        app, _ = build_app()
    except DeployOptionsError as exc:
        raise SystemExit(str(exc)) from None
    app.synth()
