"""Count the AWS requests the bridge sends, by service and operation (off by default).

On AWS every DynamoDB, SQS, SNS and Connect request is billed, so the cost harness
(`bench/cost`) reads this counter to report calls per message and per burst. It counts
HTTP requests, retries included (each one is billed, throttled SQS ones too), from
botocore's `before-send` event, which names the service and operation. Off in production:
a handler on every request is work nobody reads there.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter

if TYPE_CHECKING:
    from service.aws import AwsClients


def count_requests(clients: AwsClients, registry: CollectorRegistry) -> None:
    """Count every request each client sends from now on."""
    requests = Counter(
        "bridge_aws_requests",
        "AWS requests sent (retries included), by service and operation",
        ["service", "operation"],
        registry=registry,
    )

    def before_send(event_name: str, **_: Any) -> None:
        # "before-send.<service>.<Operation>"; returning anything but None here would
        # replace the HTTP response, so this returns nothing.
        _event, service, operation = event_name.split(".", 2)
        requests.labels(service=service, operation=operation).inc()

    for field in fields(clients):
        getattr(clients, field.name).meta.events.register("before-send", before_send)
