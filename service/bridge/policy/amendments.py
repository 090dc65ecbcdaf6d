"""Edits and deletions inside one customer burst: applied before anything reaches the agent.

While a message is still buffered, the agent has not seen it, so an `edit` simply changes
it in place and a `revoke` makes it say nothing: the agent sees only what the customer
meant in the end. An edit or deletion of a message that is not in the burst (it was
delivered earlier) cannot be undone in Connect: it is handed back as `late`, for the
agent to be told (`flows.amend`).

The edit and revoke messages themselves stay in the burst (rendering skips them), and a
revoked message stays as a revoke of itself, so the delivery ledger records every id and
a replay of the same records changes nothing twice.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from service.bridge.events.whatsapp import (
    EditPayload,
    InboundMessage,
    MediaPayload,
    MessageType,
    RevokePayload,
    TextPayload,
)

_AMENDMENTS = frozenset({MessageType.EDIT, MessageType.REVOKE})


@dataclass(frozen=True, slots=True)
class AmendedBurst:
    burst: list[InboundMessage]  # in the burst's order, originals amended in place
    late: list[InboundMessage]  # edits and revokes of messages not in this burst


def amend_burst(burst: Sequence[InboundMessage]) -> AmendedBurst:
    amended = list(burst)
    position = {m.message_id: i for i, m in enumerate(amended) if m.type not in _AMENDMENTS}
    late: list[InboundMessage] = []
    for message in burst:
        payload = message.payload
        if isinstance(payload, EditPayload | RevokePayload):
            where = position.get(payload.original_message_id)
            if where is None:
                late.append(message)
            elif isinstance(payload, EditPayload):
                amended[where] = _edited(amended[where], payload)
            else:
                amended[where] = _revoked(amended[where])
                del position[payload.original_message_id]  # a later edit finds nothing
    return AmendedBurst(amended, late)


def _edited(original: InboundMessage, edit: EditPayload) -> InboundMessage:
    if edit.text is None:
        return original
    payload = original.payload
    if isinstance(payload, TextPayload):
        return original.model_copy(update={"payload": TextPayload(body=edit.text)})
    if isinstance(payload, MediaPayload):
        return original.model_copy(
            update={"payload": payload.model_copy(update={"caption": edit.text})}
        )
    return original


def _revoked(original: InboundMessage) -> InboundMessage:
    return original.model_copy(
        update={
            "type": MessageType.REVOKE,
            "wire_type": MessageType.REVOKE.value,
            "payload": RevokePayload(original_message_id=original.message_id),
            "context": None,
        }
    )
