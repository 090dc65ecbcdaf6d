"""How the admin API answers when it cannot do what was asked: one body, documented.

Every error is `{"detail": "<plain words>"}` (FastAPI's own shape), and each route names
the statuses it may answer, so the OpenAPI document is the whole truth (checked by
schemathesis in `tests/e2e/test_admin_api_conformance.py`).
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel


class Problem(BaseModel):
    detail: str


def problem(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": Problem, "description": description}}


UNAUTHORIZED: Final = problem(401, "The admin token is missing or wrong")
NOT_FOUND: Final = problem(404, "Nothing of that kind for this customer on this task")
NO_PAGE: Final = problem(404, "The cursor does not name a page of this listing")
