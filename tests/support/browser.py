"""Debian's Chromium, driven by Playwright's async API (used by tests and scripts).

Playwright's own browser download needs the internet and Microsoft's CDN, which the
machines that run this may not reach, so the browser is the `chromium` Debian package
(`.ci/run` installs it). The async API, not pytest-playwright's synchronous fixtures:
the bridge under test runs in the test's own event loop, which a synchronous driver
would block.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, async_playwright

# Where Debian puts it; CHROMIUM overrides (another build, another distribution).
_CANDIDATES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


SKIP_REASON = (
    "no Chromium here: `apt-get install -y chromium` (what .ci/run does) or set CHROMIUM "
    "to a Chromium binary; Playwright's own browser download cannot run on this machine"
)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    path = chromium_path()
    if path is None:
        raise RuntimeError(SKIP_REASON)
    # Root (CI containers) cannot use Chromium's user-namespace sandbox.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=args)
        try:
            yield browser
        finally:
            await browser.close()
