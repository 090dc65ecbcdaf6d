"""Screenshots of the playground and the operator console for the README, from a live sandbox.

Starts `python -m service dev` (one worker, free ports, a temporary state directory), plays
a short conversation in the playground with Debian's Chromium (a burst, a markdown reply,
a list picker, a photo), parks one example dead letter, opens the console with actions
enabled, and writes docs/img/playground.png and docs/img/console.png. It prints how long
the sandbox took to start and how long until the first burst reached the agent's desk.

    .venv/bin/python scripts/screenshots.py            # CHROMIUM=/path overrides the browser
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

import boto3
from playwright.async_api import Page, async_playwright, expect

from service.consumers.dead_letters import ParkedFacts, attributes

ROOT: Final = Path(__file__).resolve().parent.parent
OUT: Final = ROOT / "docs" / "img"
PHOTO: Final = ROOT / "tests" / "fixtures" / "media" / "photo.jpg"
READY_S: Final = 180.0
SEEN_MS: Final = 30_000
VIEWPORT: Final = {"width": 1400, "height": 1000}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _read_banner(log: Path, sandbox: subprocess.Popen[bytes]) -> dict[str, str]:
    """The links `make dev` prints (playground, console), once it has printed them all."""
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline and sandbox.poll() is None:
        text = log.read_text(errors="replace") if log.exists() else ""
        if "Ctrl-C stops everything" in text:
            return dict(re.findall(r"^\s+(playground|console)\s+(\S+)", text, re.MULTILINE))
        time.sleep(0.2)
    raise SystemExit(f"the sandbox did not print its banner; see {log} or run `make dev`")


def _env_file(state_dir: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (state_dir / "env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, raw = line.partition("=")
            values[key] = shlex.split(raw)[0] if raw else ""
    return values


def _park_example(env: dict[str, str]) -> None:
    """One parked message, as the bridge parks them, so the console has a row to show."""
    sqs = boto3.client(
        "sqs",
        endpoint_url=env["SANDBOX_AWS_URL"],
        region_name=env["SANDBOX_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    facts = ParkedFacts(
        reason="Connect refused StartChatContact (example parked by scripts/screenshots.py)",
        source="inbound",
        cause="rejected",
        parked_at=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
    )
    sqs.send_message(
        QueueUrl=env["SANDBOX_INBOUND_DLQ_URL"],
        MessageBody="{}",
        MessageAttributes=dict(attributes(facts)),  # type: ignore[arg-type]
    )


async def _playground(page: Page, url: str, started: float) -> float:
    await page.goto(url)
    await expect(page.locator("#live")).to_have_text("live", timeout=SEEN_MS)
    for line in ("Hi!", "I ordered a lamp last week", "it has not arrived yet"):
        await page.locator("#message").fill(line)
        await page.locator("#message").press("Enter")
    await expect(page.locator("#transcript li.customer")).to_have_count(1, timeout=SEEN_MS)
    first_burst_s = time.monotonic() - started

    await page.locator("#reply-text").fill(
        "Sorry about that! Your order **PX-1042** ships _today_.\n- tracking: `TRK-88121`"
    )
    await page.get_by_role("button", name="Send reply").click()
    await expect(page.locator("#thread li.theirs")).to_have_count(1, timeout=SEEN_MS)
    await page.get_by_text("Send a list picker").click()
    await page.get_by_role("button", name="Send list picker").click()
    await expect(page.locator("#thread li.theirs")).to_have_count(2, timeout=SEEN_MS)
    await page.get_by_text("Send a list picker").click()

    await page.locator(".attach summary").click()
    await page.locator("#file").set_input_files(PHOTO)
    await page.locator("#caption").fill("the box it should come in")
    await page.get_by_role("button", name="Send file", exact=True).click()
    await page.locator(".attach summary").click()
    # The bridge hands a customer's media to the agent as a labelled line ("[Image] …").
    await expect(page.locator("#transcript li.customer")).to_have_count(2, timeout=SEEN_MS)
    await page.locator("#message").fill("thanks")
    await page.locator("#message").press("Enter")
    # Mid-window: the clock panel shows the quiet window ticking.
    await asyncio.sleep(2)
    await page.screenshot(path=OUT / "playground.png", full_page=True)
    return first_burst_s


async def _console(page: Page, url: str) -> None:
    await page.goto(url)
    await expect(page.locator("#main")).to_be_visible(timeout=SEEN_MS)
    await page.get_by_label("Enable actions").check()
    await expect(page.locator("#dead-letters")).to_contain_text("rejected", timeout=SEEN_MS)
    await expect(page.locator("#chats tr")).not_to_have_count(0)
    await page.screenshot(path=OUT / "console.png", full_page=True)


async def _shoot(links: dict[str, str], started: float) -> float:
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        raise SystemExit("no Chromium: apt-get install -y chromium, or set CHROMIUM")
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=args)
        try:
            context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
            first_burst_s = await _playground(
                await context.new_page(), links["playground"], started
            )
            await _console(await context.new_page(), links["console"])
        finally:
            await browser.close()
    return first_burst_s


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        state_dir = Path(tmp)
        command = [
            sys.executable,
            "-m",
            "service",
            "dev",
            "--workers",
            "1",
            "--aws-port",
            str(_free_port()),
            "--sim-port",
            str(_free_port()),
            "--admin-port",
            str(_free_port()),
            "--state-dir",
            str(state_dir),
        ]
        log = state_dir / "dev.log"
        started = time.monotonic()
        # Its output goes to a file: a pipe nobody reads would fill and stall the sandbox.
        with log.open("wb") as output:
            sandbox = subprocess.Popen(  # noqa: S603 (our own CLI, no shell)
                command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
            )
        try:
            links = _read_banner(log, sandbox)
            ready_s = time.monotonic() - started
            _park_example(_env_file(state_dir))
            first_burst_s = asyncio.run(_shoot(links, started))
        finally:
            sandbox.send_signal(signal.SIGINT)
            try:
                sandbox.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sandbox.kill()
                sandbox.wait()
    sys.stdout.write(
        f"sandbox ready in {ready_s:.1f} s; the first burst reached the agent's desk "
        f"{first_burst_s:.1f} s after the start\n"
        f"wrote {OUT / 'playground.png'} and {OUT / 'console.png'}\n"
    )


if __name__ == "__main__":
    main()
