"""Bearer-token guard for /admin/* routes."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

_bearer = HTTPBearer(auto_error=False, description="The admin token (BRIDGE_ADMIN_TOKEN).")


def require_token(token: SecretStr) -> Callable[..., Awaitable[None]]:
    expected = token.get_secret_value().encode()

    async def _check(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        # compare_digest: the time taken must not reveal how much of a guess was right.
        if credentials is None or not hmac.compare_digest(
            credentials.credentials.encode(), expected
        ):
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="missing or wrong admin token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return _check
