"""The admin API does what its OpenAPI document says: schemathesis against the live app.

A real bridge (`run_bridge`, on the embedded AWS and the simulator) serves the admin API;
schemathesis (its CLI, as an operator would run it) reads `/openapi.json` and sends
generated requests with the admin token to every route: positive and negative data,
missing auth, wrong methods. Every response must be one the document declares (status,
content type, schema), and none may be a server error.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import bridge_settings
from tests.support.bridge import TOKEN, RunningBridge

CHECKS = "all"
# use_after_free and ensure_resource_availability need create/delete pairs the admin API
# does not have (it creates nothing).
EXCLUDED = "use_after_free,ensure_resource_availability"


@pytest.mark.slow
async def test_the_admin_api_conforms_to_its_openapi_document(sim, resources, tmp_path):
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st is not None, "schemathesis is in the dev dependency group"
    async with RunningBridge(bridge_settings(resources)) as admin:
        url = str(admin.base_url.join("/openapi.json"))
        process = await asyncio.create_subprocess_exec(
            st,
            "run",
            url,
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--checks",
            CHECKS,
            "--exclude-checks",
            EXCLUDED,
            "--max-examples",
            "30",
            "--workers",
            "1",
            "--seed",
            "7",
            "--no-color",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
        output, _ = await process.communicate()
    report = output.decode(errors="replace")
    print(report)
    assert process.returncode == 0, report
