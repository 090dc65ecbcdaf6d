"""The error an operation handler raises to answer with a modeled AWS error."""

from __future__ import annotations


class AwsError(Exception):
    """Answered as `x-amzn-ErrorType: <code>` with the status the service model gives it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class SandboxError(Exception):
    """A sandbox API request that cannot be honoured (bad reference, unknown id)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
