"""Count the AWS requests the bridge sends, and time its calls, by service and operation
(off by default).

On AWS every DynamoDB, SQS, SNS and Connect request is billed, so the cost harness
(`bench/cost`) reads this counter to report calls per message and per burst. It counts
HTTP requests, retries included (each one is billed, throttled SQS ones too), from
botocore's `before-send` event, which names the service and operation. A call's time,
from `before-call` to `after-call` (its retries and backoff included), is what a burst
waits on each step of its delivery; the harness reads it to say where added latency goes.
Off in production: a handler on every request is work nobody reads there.
"""

from __future__ import annotations

import time
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram

if TYPE_CHECKING:
    from service.aws import AwsClients

_STARTED = "bridge_call_started"  # our key in botocore's per-call request context
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 25.0)


def count_requests(clients: AwsClients, registry: CollectorRegistry) -> None:
    """Count every request each client sends, and time every call, from now on."""
    requests = Counter(
        "bridge_aws_requests",
        "AWS requests sent (retries included), by service and operation",
        ["service", "operation"],
        registry=registry,
    )
    calls = Histogram(
        "bridge_aws_call_seconds",
        "AWS calls, first request to parsed answer (retries included), by service and "
        "operation; calls that raise before an answer are not observed",
        ["service", "operation"],
        buckets=CALL_BUCKETS,
        registry=registry,
    )

    def before_send(event_name: str, **_: Any) -> None:
        # "before-send.<service>.<Operation>"; returning anything but None here would
        # replace the HTTP response, so this returns nothing.
        _event, service, operation = event_name.split(".", 2)
        requests.labels(service=service, operation=operation).inc()

    def before_call(context: dict[str, Any], **_: Any) -> None:
        context[_STARTED] = time.monotonic()

    def after_call(event_name: str, context: dict[str, Any], **_: Any) -> None:
        started = context.get(_STARTED)
        if started is not None:
            _event, service, operation = event_name.split(".", 2)
            calls.labels(service=service, operation=operation).observe(time.monotonic() - started)

    for field in fields(clients):
        events = getattr(clients, field.name).meta.events
        events.register("before-send", before_send)
        events.register("before-call", before_call)
        events.register("after-call", after_call)
