"""The VPC: private subnets behind NAT, flow logs, gateway endpoints."""

from __future__ import annotations

import json

import pytest

from deploy.bridge.assembly import build_app
from deploy.bridge.options import DeployOptionsError


def test_new_vpc_has_private_subnets_nat_per_az_and_flow_logs(synthesized):
    (vpc,) = synthesized.of_type("AWS::EC2::VPC").values()
    assert vpc["Properties"]["CidrBlock"] == "10.0.0.0/16"
    subnets = synthesized.of_type("AWS::EC2::Subnet").values()
    private = [s for s in subnets if s["Properties"]["MapPublicIpOnLaunch"] is False]
    assert len(private) == 2
    assert len(synthesized.of_type("AWS::EC2::NatGateway")) == 2
    (flow_log,) = synthesized.of_type("AWS::EC2::FlowLog").values()
    assert flow_log["Properties"]["TrafficType"] == "REJECT"
    assert flow_log["Properties"]["LogDestinationType"] == "cloud-watch-logs"
    endpoints = synthesized.of_type("AWS::EC2::VPCEndpoint").values()
    assert {e["Properties"]["VpcEndpointType"] for e in endpoints} == {"Gateway"}
    assert len(endpoints) == 2


def test_service_runs_in_the_private_subnets(synthesized):
    (service,) = synthesized.of_type("AWS::ECS::Service").values()
    subnets = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]
    for reference in subnets:
        subnet = synthesized.resources[reference["Ref"]]
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False


def test_nat_gateways_and_cidr_come_from_context(custom):
    assert len(custom.of_type("AWS::EC2::NatGateway")) == 1
    (vpc,) = custom.of_type("AWS::EC2::VPC").values()
    assert vpc["Properties"]["CidrBlock"] == "10.42.0.0/16"


def test_existing_vpc_is_looked_up_in_the_deployers_account(monkeypatch, tmp_path):
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "123456789012")
    monkeypatch.setenv("CDK_DEFAULT_REGION", "eu-west-1")
    app, stack = build_app(context={"vpc_id": "vpc-0abc"}, outdir=tmp_path)
    assembly = app.synth()
    template = assembly.get_stack_by_name(stack.stack_name).template
    types = {resource["Type"] for resource in template["Resources"].values()}
    assert "AWS::EC2::VPC" not in types
    assert "AWS::EC2::NatGateway" not in types
    assert "AWS::ECS::Service" in types
    # The acknowledged findings carry the literal account and region now; still none left.
    report = json.loads((tmp_path / "validation-report.json").read_text(encoding="utf-8"))
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["violations"] == []
    # The CLI performs the lookup and synthesizes again with the real subnets.
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    (missing,) = manifest["missing"]
    assert missing["provider"] == "vpc-provider"
    assert missing["props"]["filter"] == {"vpc-id": "vpc-0abc"}
    assert (missing["props"]["account"], missing["props"]["region"]) == (
        "123456789012",
        "eu-west-1",
    )


def test_existing_vpc_without_an_account_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
    monkeypatch.delenv("CDK_DEFAULT_REGION", raising=False)
    with pytest.raises(DeployOptionsError, match="credentials"):
        build_app(context={"vpc_id": "vpc-0abc"}, outdir=tmp_path)
