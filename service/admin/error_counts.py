"""Errors by code, read straight from this worker's Prometheus registry.

The counters already exist for alarms; the console lists the non-zero ones with the
label that names the code (an AWS or Meta error code, a parking cause, a failure kind).
Counts are since this worker started; the console shows what changed while it watches.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter
from prometheus_client import CollectorRegistry

# Counter families that count failures, and the label that names the kind of failure.
_ERROR_FAMILIES: Final = {
    "bridge_aws_call_errors": "code",
    "bridge_whatsapp_failed_statuses": "code",
    "bridge_sqs_parked": "cause",
    "bridge_records_parked": "",
    "bridge_sqs_handler_failures": "",
    "bridge_sqs_receive_errors": "",
    "bridge_sqs_delete_failures": "",
    "bridge_outbound_failures": "code",
    "bridge_stream_errors": "",
    "bridge_delivery_retries": "",
}


def error_counts(registry: CollectorRegistry) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for family in registry.collect():
        code_label = _ERROR_FAMILIES.get(family.name)
        if code_label is None:
            continue
        for sample in family.samples:
            if not sample.name.endswith("_total") or sample.value <= 0:
                continue
            labels = dict(sample.labels)
            code = labels.pop(code_label, "") if code_label else ""
            rows.append(
                {
                    "metric": family.name,
                    "code": code or family.name.removeprefix("bridge_"),
                    "labels": labels,
                    "count": int(sample.value),
                }
            )
    rows.sort(key=lambda row: -row["count"])
    return rows


def errors_router(*, registry: CollectorRegistry) -> APIRouter:
    router = APIRouter(tags=["this worker"])

    @router.get("/errors", summary="Errors by code on this task (from its metrics)")
    async def list_errors() -> dict[str, Any]:
        return {"errors": error_counts(registry)}

    return router
