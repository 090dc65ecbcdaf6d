"""A count of failed calls to Connect and EUM Social, by service, operation and error code."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class CallErrors:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._counter = Counter(
            "bridge_aws_call_errors",
            "Failed calls to Connect, Connect Participant and EUM Social, by error code "
            "(for WhatsApp also Meta's code when the error names one)",
            ["service", "operation", "code"],
            registry=registry,
        )

    def record(self, service: str, operation: str, code: str) -> None:
        self._counter.labels(service, operation, code or "unknown").inc()
