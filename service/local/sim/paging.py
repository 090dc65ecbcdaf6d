"""NextToken for the simulator's paged operations: an opaque, base64 JSON offset."""

from __future__ import annotations

import base64
import binascii
import json

from service.local.sim.errors import AwsError


def encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_offset(token: str | None, *, error_code: str) -> int:
    """The offset a NextToken stands for (0 without one); `error_code` if it is not ours."""
    if token is None:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise AwsError(error_code, "NextToken is not valid") from exc
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise AwsError(error_code, "NextToken is not valid")
    return offset
