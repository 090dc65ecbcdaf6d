"""WhatsApp's customer service window, as Meta enforces it.

A customer's message opens (or refreshes) a 24-hour window for the business number it was
sent to; the business's own messages do not. Inside it any message may be sent; outside
it only templates. A free-form send outside the window is not refused: it gets a message
id like any other, and later a `failed` status with error 131047 (Meta's "Service messages"
page; AWS's troubleshooting guide). Times are the simulator's clock (`/sandbox/clock`), so
a test can let a window close by advancing it.
"""

from __future__ import annotations

from typing import Final

WINDOW_S: Final = 24 * 3600
RE_ENGAGEMENT: Final = 131047
# What may be sent whatever the window: templates open conversations, and a read receipt
# is a status update, not a message.
_ALWAYS_ALLOWED: Final = frozenset({"template", "read"})


def _who(recipient: str) -> str:
    return recipient.lstrip("+")


class ServiceWindows:
    def __init__(self) -> None:
        self._last: dict[tuple[str, str], float] = {}

    def customer_wrote(
        self, business: str, identities: tuple[str | None, ...], sent_at: float
    ) -> None:
        for identity in identities:
            if identity is not None:
                key = (business, _who(identity))
                self._last[key] = max(self._last.get(key, 0.0), sent_at)

    def closes_at(self, business: str, recipient: str) -> float | None:
        last = self._last.get((business, _who(recipient)))
        return None if last is None else last + WINDOW_S

    def allows(self, business: str, recipient: str | None, kind: str, now: float) -> bool:
        if kind in _ALWAYS_ALLOWED or recipient is None:
            return True
        closes_at = self.closes_at(business, recipient)
        return closes_at is not None and now < closes_at

    def clear(self) -> None:
        self._last.clear()
