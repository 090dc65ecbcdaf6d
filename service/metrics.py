"""Prometheus metrics: one registry per process, created in the composition root.

Components receive the registry and declare their own metrics on it; tests build a fresh
registry each, so counts never leak between tests (the library's global default registry
is never used).
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Gauge, Info


def new_registry(*, worker_id: str, version: str) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    Info("bridge_build", "Build and worker identity", registry=registry).info(
        {"version": version, "worker_id": worker_id}
    )
    Gauge("bridge_start_time_seconds", "Unix time the process started", registry=registry).set(
        time.time()
    )
    return registry
