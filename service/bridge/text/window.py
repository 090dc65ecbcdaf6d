"""What the agent reads when a reply cannot reach the customer: the service window is shut."""

from datetime import UTC, datetime


def window_closed_note(closed_at: int) -> str:
    when = datetime.fromtimestamp(closed_at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "⏰ Not sent to WhatsApp: the customer's 24-hour window closed at "
        f"{when} (24 hours after their last message). WhatsApp now delivers only approved "
        "templates; the window reopens as soon as the customer writes again."
    )


def _hm(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def held_note(*, closed_at: int, template: str | None, position: int, limit: int) -> str:
    """The agent's message waits for the customer: what was done to bring them back."""
    invited = (
        f"The bridge sent the approved template “{template}” to invite the customer back; "
        if template
        else ""
    )
    return (
        f"⏸ Held ({position} of at most {limit}): the customer's 24-hour window closed at "
        f"{_hm(closed_at)}. {invited}your messages will be delivered, in order, as soon as "
        "they reply."
    )


def not_held_note(limit: int) -> str:
    return (
        f"⏰ Not sent to WhatsApp: {limit} messages are already waiting for the customer to "
        "reply, which is as many as the bridge holds. Wait for their reply."
    )


def reengage_failed_note(closed_at: int, reason: str) -> str:
    return (
        window_closed_note(closed_at)
        + f" The re-engagement template could not be sent ({reason}), so this message is "
        "not held."
    )


def held_expired_note(count: int, held_at: int, ttl_s: float) -> str:
    hours = ttl_s / 3600
    span = f"{hours:g} hours" if hours >= 1 else f"{ttl_s:g} seconds"
    messages = "message" if count == 1 else "messages"
    return (
        f"⌛ Not delivered: {count} held {messages} (the first held at {_hm(held_at)}) "
        f"expired; the customer did not reply within {span}."
    )
