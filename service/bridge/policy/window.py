"""WhatsApp's customer service window: 24 hours from the customer's last message.

Only the customer's messages (or calls) open and refresh it; the business's own messages do
not. Outside it WhatsApp delivers only approved templates, and a free-form send is not
refused: it gets a message id and fails later (131047), after the agent has moved on. The
bridge knows the customer's last message time per business number (the session), so it
can decide before sending.
"""

from typing import Final

WINDOW_S: Final = 24 * 3600


def window_closes_at(last_customer_message_at: int) -> int:
    return last_customer_message_at + WINDOW_S


def window_open(last_customer_message_at: int, now: float) -> bool:
    return now < window_closes_at(last_customer_message_at)
