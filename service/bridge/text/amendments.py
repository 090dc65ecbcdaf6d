"""What the agent reads when the customer edits or deletes a message it already has."""

from datetime import UTC, datetime
from typing import Final

# Both texts must fit one Connect message (1024 characters by default) with the wording.
QUOTE_LIMIT: Final = 400
_ELLIPSIS: Final = "…"


def _quoted(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > QUOTE_LIMIT:
        text = text[: QUOTE_LIMIT - 1] + _ELLIPSIS
    return f"«{text}»"


def edit_note(old: str | None, new: str | None) -> str:
    if old is not None and new is not None:
        return f"✏️ The customer edited: {_quoted(old)} → {_quoted(new)}"
    if new is not None:
        return f"✏️ The customer edited an earlier message; it now reads {_quoted(new)}"
    return "✏️ The customer edited an earlier message."


def revoke_note(sent_at: int | None) -> str:
    """No content: the customer wanted it gone (the agent still has the original above)."""
    if sent_at is None:
        return "🗑️ The customer deleted an earlier message."
    when = datetime.fromtimestamp(sent_at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"🗑️ The customer deleted the message they sent at {when}."
