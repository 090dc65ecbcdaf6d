"""The service's typed errors: callers decide by class, never by an AWS error code.

::

    BridgeError
    ├── RetryableError                 the same call may succeed later (back off, then retry)
    │   ├── ThrottledError             a rate limit (ours or AWS's); `retry_after_s` if known
    │   ├── ConnectQuotaError          StartChatContact LimitExceeded: the concurrent-chats
    │   │                              quota or its TPS throttle (AWS uses one code for both)
    │   ├── DependencyUnavailableError 5xx, timeouts, connection errors, codes nobody knows
    │   └── RefusedAfterReconnectError AccessDenied right after a reconnect succeeded: the
    │                                  chat is alive (the reconnect proved it); try again
    ├── PermanentError                 the same call will fail again; park it, do not retry
    │   ├── InvalidRequestError        the request itself is wrong
    │   │   ├── MessageTooLargeError   a size ValidationException: split the text and resend
    │   │   └── WhatsAppSendError      EUM or Meta refused the message (`meta_code` if named)
    │   ├── ConfigurationError         unknown instance/flow/table, access denied on the
    │   │                              Connect API itself (IAM): an operator must act
    │   ├── ContactNotFoundError       the contact id is unknown to Connect
    │   ├── AttachmentRejectedError    Connect refuses the file (type, size, per-chat quota)
    │   └── ConflictError              a state conflict Connect reports (e.g. receipts with
    │                                  more than two participants)
    ├── ParticipantAccessDeniedError   the connection token is invalid/expired OR the chat
    │                                  ended; re-connect with the participant token to tell
    └── ConditionFailedError           a DynamoDB item changed under us (a condition or a
                                       transaction conflict); re-read and decide again

`service.aws_errors` is the one place that turns botocore errors into these.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the service's AWS boundary translates."""


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


class ChatPendingError(RetryableError):
    """The customer's chat is being opened under their previous identity: wait for it."""


class PermanentError(BridgeError):
    pass


class InvalidRequestError(PermanentError):
    pass


class MessageTooLargeError(InvalidRequestError):
    pass


class WhatsAppSendError(InvalidRequestError):
    """EUM or Meta refused the message; `meta_code` when the error names one."""

    def __init__(self, message: str, *, meta_code: int | None) -> None:
        super().__init__(message)
        self.meta_code = meta_code


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


class ConditionFailedError(BridgeError):
    pass


def is_retryable(exc: BaseException) -> bool:
    """Whether the same work may succeed later. Errors outside the hierarchy are retried
    too: a transient failure nobody translated yet must not park a customer's messages on
    the first try (the caller bounds its attempts)."""
    return not isinstance(exc, PermanentError)
