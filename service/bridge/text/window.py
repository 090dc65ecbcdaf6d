"""What the agent reads when a reply cannot reach the customer: the service window is shut."""

from datetime import UTC, datetime


def window_closed_note(closed_at: int) -> str:
    when = datetime.fromtimestamp(closed_at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "⏰ Not sent to WhatsApp: the customer's 24-hour window closed at "
        f"{when} (24 hours after their last message). WhatsApp now delivers only approved "
        "templates; the window reopens as soon as the customer writes again."
    )
