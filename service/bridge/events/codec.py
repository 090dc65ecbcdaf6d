"""The compact form of an inbound message: what the raw-messages table stores.

A versioned JSON object: the typed message dumped without empty fields. It travels in the
item (and its stream record), so a worker that takes a shard over decodes exactly what the
worker that wrote it parsed.
"""

from collections.abc import Mapping
from typing import Any, Final

from pydantic import ValidationError

from service.bridge.events.eum import safe_reason
from service.bridge.events.whatsapp import InboundMessage, MalformedEventError

COMPACT_VERSION: Final = 1


def to_compact(message: InboundMessage) -> dict[str, Any]:
    """JSON-ready dict of one message, for the raw-messages item and its stream record."""
    body = message.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {"v": COMPACT_VERSION, **body}


def from_compact(data: Mapping[str, Any]) -> InboundMessage:
    """Rebuild the typed message written by `to_compact`."""
    version = data.get("v")
    if version != COMPACT_VERSION:
        raise MalformedEventError(f"unknown compact message version {version!r}")
    try:
        return InboundMessage.model_validate({k: v for k, v in data.items() if k != "v"})
    except ValidationError as exc:
        raise MalformedEventError(safe_reason("compact message", exc)) from exc
