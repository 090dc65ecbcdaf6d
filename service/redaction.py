"""The one way the service hides customers and credentials.

Two needs, one module: logs *hash* identities (a keyed hash, stable within a deployment,
so one customer's lines can still be correlated) and remove credentials, both under known
keys and inside free text (a botocore debug line, an access-log path); the admin API and
console *mask* identities for people (all but the last four characters).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any, Final

from structlog.typing import EventDict, WrappedLogger

REDACTED: Final = "[redacted]"

# Keys whose values identify a customer: hashed, never shown.
_IDENTITY_KEYS: Final = frozenset(
    {
        "wa_id",
        "from",
        "from_user_id",
        "user_id",
        "bsuid",
        "recipient",
        "recipient_id",
        "to",
        "phone",
        "phone_number",
        "customer",
        "customer_id",
        "customer_key",
        "display_phone_number",
    }
)
# Keys whose values are credentials: removed.
_SECRET_KEYS: Final = frozenset(
    {
        "participant_token",
        "participanttoken",
        "connection_token",
        "connectiontoken",
        "x-amz-bearer",
        "authorization",
        "admin_token",
        "token",
        "password",
        "secret",
    }
)

# Free text: "+5215512345678", "5215512345678" (8-15 digits, not part of a longer number
# or of a UUID / ARN segment), and business-scoped user ids such as "US.13491208655302741918".
_PHONE_RE: Final = re.compile(r"(?<![\w.\-:])\+?\d{8,15}(?![\w\-])")
_BSUID_RE: Final = re.compile(r"\b[A-Z]{2}\.[A-Za-z0-9]{8,128}\b")
# A credential named in free text: `ConnectionToken': 'abc'`, `X-Amz-Bearer=abc`,
# `Authorization: Bearer abc`.
_SECRET_IN_TEXT_RE: Final = re.compile(
    r"(?i)((?:participant|connection)_?token|x-amz-bearer|authorization|admin_token)"
    r"(['\"]?\s*[:=]\s*['\"]?)(?:bearer\s+)?([^'\"\s,}&]+)"
)


class Redactor:
    """A structlog processor that hashes customer identities and removes credentials."""

    def __init__(self, salt: bytes = b"") -> None:
        self._salt = salt

    def hash_identity(self, value: str) -> str:
        digest = hmac.new(self._salt, value.encode(), hashlib.sha256).hexdigest()
        return f"h:{digest[:12]}"

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        for key, value in list(event_dict.items()):
            event_dict[key] = self._value(key, value)
        return event_dict

    def scrub_text(self, text: str) -> str:
        text = _SECRET_IN_TEXT_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        text = _BSUID_RE.sub(lambda m: self.hash_identity(m.group(0)), text)
        return _PHONE_RE.sub(lambda m: self.hash_identity(m.group(0).lstrip("+")), text)

    def _value(self, key: str, value: Any) -> Any:
        lowered = key.lower()
        if lowered in _SECRET_KEYS:
            return REDACTED
        if lowered in _IDENTITY_KEYS and isinstance(value, (str, int)):
            return self.hash_identity(str(value).lstrip("+"))
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, Mapping):
            return {k: self._value(str(k), v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._value(key, v) for v in value]
        return value


_MASK: Final = "•"
_VISIBLE: Final = 4


def mask(value: str) -> str:
    """All but the last 4 characters hidden; short values entirely."""
    if len(value) <= _VISIBLE:
        return _MASK * len(value)
    return _MASK * (len(value) - _VISIBLE) + value[-_VISIBLE:]


def mask_customer(customer_key: str) -> str:
    """`<business number id>#<customer identity>` with the customer's part masked."""
    business, separator, customer = customer_key.partition("#")
    return f"{business}#{mask(customer)}" if separator else mask(business)


def mask_name(name: str) -> str:
    """A display name for people who need to tell chats apart, not to know who it is."""
    return name[:1] + _MASK * 3 if name else ""


def mask_text(text: str) -> str:
    """Free text for people (a dead letter's reason): phone numbers and business-scoped
    user ids masked, credentials removed. Reasons are written free of personal data; this is
    the second line, so a careless one cannot put a number on an operator's screen."""
    text = _SECRET_IN_TEXT_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _BSUID_RE.sub(lambda m: mask(m.group(0)), text)
    return _PHONE_RE.sub(lambda m: mask(m.group(0).lstrip("+")), text)
