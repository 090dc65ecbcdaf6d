"""Node.js for jsii: the bundled one, a system one, or a clear error; `deploy/app.py` end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.bridge import node
from deploy.bridge.assembly import STACK_ID

REPO_ROOT = Path(__file__).resolve().parents[2]
SUPPORTED_MAJOR = 22


def test_the_deploy_group_bundles_a_supported_node():
    bundled = node.bundled_node()
    assert bundled is not None
    version = subprocess.run(
        [str(bundled), "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    assert int(version.lstrip("v").split(".")[0]) >= SUPPORTED_MAJOR


def test_an_explicit_jsii_node_wins(monkeypatch):
    monkeypatch.setenv("JSII_NODE", "/opt/my/node")
    assert node.ensure_jsii_node() == "/opt/my/node"


def test_the_bundled_node_is_chosen_over_the_path(monkeypatch):
    monkeypatch.delenv("JSII_NODE", raising=False)
    chosen = node.ensure_jsii_node()
    assert chosen == str(node.bundled_node())
    assert os.environ["JSII_NODE"] == chosen


def test_a_node_on_path_is_used_without_the_bundle(monkeypatch, tmp_path):
    fake = tmp_path / "node"
    fake.write_text("#!/bin/sh\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.delenv("JSII_NODE", raising=False)
    monkeypatch.setattr(node, "bundled_node", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert node.ensure_jsii_node() == str(fake)
    assert "JSII_NODE" not in os.environ  # jsii's own default (`node` on PATH) applies


def test_no_node_at_all_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("JSII_NODE", raising=False)
    monkeypatch.setattr(node, "bundled_node", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(node.NodeNotFoundError, match="deploy dependency group"):
        node.ensure_jsii_node()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_app_synthesizes_on_a_machine_without_node_or_credentials(tmp_path):
    """`make synth`'s command, with no node on PATH, no AWS credentials, no network."""
    outdir = tmp_path / "cdk.out"
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "CDK_", "JSII_", "BRIDGE_"))
    }
    environment |= {"PATH": str(tmp_path), "CDK_OUTDIR": str(outdir), "HOME": str(tmp_path)}
    assert shutil.which("node", path=environment["PATH"]) is None
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "deploy" / "app.py")],
        cwd=tmp_path,  # not the repository root: app.py must find it itself
        env=environment,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((outdir / f"{STACK_ID}.template.json").read_text(encoding="utf-8"))
    assert template["Resources"]
    report = json.loads((outdir / "validation-report.json").read_text(encoding="utf-8"))
    assert all(r["conclusion"] == "success" for r in report["pluginReports"])
    # The bundled Node.js is a supported one: jsii prints no end-of-life banner.
    assert "end-of-life" not in result.stderr
