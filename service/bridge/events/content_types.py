"""Amazon Connect chat content types: the one list the bridge reads and writes."""

from typing import Final

PLAIN: Final = "text/plain"
MARKDOWN: Final = "text/markdown"
JSON: Final = "application/json"
_PREFIX: Final = "application/vnd.amazonaws.connect."
INTERACTIVE: Final = _PREFIX + "message.interactive"
INTERACTIVE_RESPONSE: Final = _PREFIX + "message.interactive.response"
EVENT_PREFIX: Final = _PREFIX + "event."
TYPING: Final = EVENT_PREFIX + "typing"
MESSAGE_DELIVERED: Final = EVENT_PREFIX + "message.delivered"
MESSAGE_READ: Final = EVENT_PREFIX + "message.read"
CHAT_ENDED: Final = EVENT_PREFIX + "chat.ended"
TRANSFER_SUCCEEDED: Final = EVENT_PREFIX + "transfer.succeeded"
PARTICIPANT_PREFIX: Final = EVENT_PREFIX + "participant."

# What the customer participant (the bridge) declares it can show, at StartChatContact:
# the interactive type lets agents' list pickers and quick replies reach the bridge.
SUPPORTED_BY_BRIDGE: Final = (PLAIN, MARKDOWN, INTERACTIVE_RESPONSE, INTERACTIVE)
