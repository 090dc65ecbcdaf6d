"""The bridge's error hierarchy: callers decide by class, never by an AWS error code.

::

    BridgeError
    ├── RetryableError                 the same call may succeed later (back off, then retry)
    │   ├── ThrottledError             a rate limit (ours or AWS's); `retry_after_s` if known
    │   ├── ConnectQuotaError          StartChatContact LimitExceeded: the concurrent-chats
    │   │                              quota or its TPS throttle (AWS uses one code for both)
    │   ├── DependencyUnavailableError 5xx, timeouts, connection errors
    │   └── RefusedAfterReconnectError AccessDenied right after a reconnect succeeded: the
    │                                  chat is alive (the reconnect proved it); try again
    ├── PermanentError                 the same call will fail again; park it, do not retry
    │   ├── InvalidRequestError        the request itself is wrong
    │   │   └── MessageTooLargeError   a size ValidationException: split the text and resend
    │   ├── ConfigurationError         unknown instance/flow/table, access denied on the
    │   │                              Connect API itself (IAM): an operator must act
    │   ├── ContactNotFoundError       the contact id is unknown to Connect
    │   ├── AttachmentRejectedError    Connect refuses the file (type, size, per-chat quota)
    │   └── ConflictError              a state conflict Connect reports (e.g. receipts with
    │                                  more than two participants)
    ├── ParticipantAccessDeniedError   the connection token is invalid/expired OR the chat
    │                                  ended; re-connect with the participant token to tell
    └── SessionConflictError           the session changed under us; re-read, decide again

Only the AWS adapters look at `ClientError.response["Error"]["Code"]`; they raise these
`from` the original error, and re-raise codes they do not know untouched.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the bridge's adapters translate."""


class RetryableError(BridgeError):
    pass


class ThrottledError(RetryableError):
    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ConnectQuotaError(RetryableError):
    pass


class DependencyUnavailableError(RetryableError):
    pass


class RefusedAfterReconnectError(RetryableError):
    pass


class PermanentError(BridgeError):
    pass


class InvalidRequestError(PermanentError):
    pass


class MessageTooLargeError(InvalidRequestError):
    pass


class ConfigurationError(PermanentError):
    pass


class ContactNotFoundError(PermanentError):
    pass


class AttachmentRejectedError(PermanentError):
    pass


class ConflictError(PermanentError):
    pass


class ParticipantAccessDeniedError(BridgeError):
    pass


class SessionConflictError(BridgeError):
    pass
