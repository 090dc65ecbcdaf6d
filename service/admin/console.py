"""The operator console: one static page and its script, served without the token.

The page holds no data: its script asks for the admin token once, keeps it in the tab's
sessionStorage and reads everything from the token-guarded /admin routes. The files ship
inside the package (`static/`), so the console works on a machine without internet, and
the Content-Security-Policy forbids loading anything from anywhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

STATIC: Final = Path(__file__).parent / "static"
_FILES: Final = {"console.js": "text/javascript", "console.css": "text/css"}
HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def add_console(app: FastAPI) -> None:
    @app.get(
        "/console",
        tags=["console"],
        summary="The operator console (a page; data needs the token)",
        response_class=HTMLResponse,
        responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
    )
    async def console() -> FileResponse:
        return FileResponse(STATIC / "console.html", media_type="text/html", headers=HEADERS)

    @app.get("/console/static/{name}", include_in_schema=False)
    async def console_file(name: str) -> FileResponse:
        media_type = _FILES.get(name)
        if media_type is None:
            raise HTTPException(404)
        return FileResponse(STATIC / name, media_type=media_type, headers=HEADERS)
