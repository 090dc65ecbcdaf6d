"""Builders of EUM Social inbound events, shaped as reference §3.1 describes."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from service.local import constants

_ids = itertools.count(1)


def wamid() -> str:
    return f"wamid.TEST{next(_ids):012d}=="


def eum_event(
    *messages: dict[str, Any],
    wa_id: str | None = "5215512345678",
    bsuid: str | None = None,
    name: str = "Ana",
    statuses: list[dict[str, Any]] | None = None,
) -> str:
    """One EUM event (the SNS `Message` string) carrying `messages` from one customer."""
    wire_messages = []
    for part in messages:
        message = {
            "id": part.get("id") or wamid(),
            "timestamp": str(part.get("timestamp", int(time.time()))),
        }
        if wa_id is not None:
            message["from"] = wa_id
        if bsuid is not None:
            message["from_user_id"] = bsuid
        message |= {k: v for k, v in part.items() if k not in {"id", "timestamp"}}
        wire_messages.append(message)
    contact: dict[str, Any] = {"profile": {"name": name}}
    if wa_id is not None:
        contact["wa_id"] = wa_id
    if bsuid is not None:
        contact["user_id"] = bsuid
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": constants.BUSINESS_DISPLAY_NUMBER,
            "phone_number_id": constants.BUSINESS_PHONE_NUMBER_ID,
        },
    }
    if wire_messages:
        value["contacts"] = [contact]
        value["messages"] = wire_messages
    if statuses:
        value["statuses"] = statuses
    entry = {"id": constants.WABA_ID, "changes": [{"field": "messages", "value": value}]}
    return json.dumps(
        {
            "context": {
                "MetaWabaIds": [{"wabaId": constants.WABA_ID, "arn": constants.WABA_ARN}],
                "MetaPhoneNumberIds": [
                    {
                        "metaPhoneNumberId": constants.BUSINESS_PHONE_NUMBER_ID,
                        "arn": constants.BUSINESS_PHONE_NUMBER_ARN,
                    }
                ],
            },
            "whatsAppWebhookEntry": json.dumps(entry),
            "aws_account_id": constants.ACCOUNT_ID,
            "message_timestamp": "2026-03-01T10:15:30.123456789Z",
            "messageId": "0f1e2d3c-0000-4000-8000-123456789abc",
        }
    )


def text(body: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body}} | extra


def statuses_in(envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The WhatsApp statuses inside SNS envelopes of EUM events, in order."""
    found: list[dict[str, Any]] = []
    for envelope in envelopes:
        entry = json.loads(json.loads(envelope["Message"])["whatsAppWebhookEntry"])
        found += entry["changes"][0]["value"].get("statuses", [])
    return found
