"""The playground and the operator console in a real browser (Debian's Chromium).

The pages are driven as people would: typing on the phone, replying at the desk, pressing
redrive in the console. What they show is checked on the page; what happened is checked
on the simulator's records, so a page that shows the right thing for a wrong reason (or
the right thing twice) fails.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Dialog, Page, expect

from service.consumers.dead_letters import DeadLetterQueue
from tests.e2e.conftest import QUIET_S, Sandbox, bridge_settings, text
from tests.support.bridge import TOKEN, RunningBridge
from tests.support.browser import SKIP_REASON, chromium, chromium_path
from tests.support.waiting import eventually

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_path() is None, reason=SKIP_REASON),
]

# Long enough for a burst to wait out the quiet window, reach Connect and be drawn.
SEEN_S = 20.0
WA_ID = "5215512345678"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    await context.close()
    assert not errors, f"the page's script failed: {errors}"


# Every control a person can reach has a name a screen reader can say.
_UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea, button")]
  .filter((e) => e.type !== "hidden")
  .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute("aria-label")
    && !(e.tagName === "BUTTON" && e.textContent.trim()))
  .map((e) => e.id || e.outerHTML.slice(0, 80))"""


async def _unlabelled(page: Page) -> list[str]:
    found: list[str] = await page.evaluate(_UNLABELLED)
    return found


async def _customer_texts(world: Sandbox) -> list[str]:
    return [content for _, content in await world.customer_messages()]


async def _open_playground(page: Page, sim: str) -> None:
    await page.goto(f"{sim}/")
    await expect(page.locator("#live")).to_have_text("live", timeout=10_000)


async def _type_burst(page: Page, *lines: str) -> None:
    for line in lines:
        await page.locator("#message").fill(line)
        await page.locator("#message").press("Enter")


async def test_a_burst_typed_on_the_phone_reaches_the_desk_as_one_message(sim, bridge, world, page):
    await _open_playground(page, sim)

    assert await _unlabelled(page) == []
    await _type_burst(page, "Hi there", "my order", "has not arrived")

    burst = "Hi there\nmy order\nhas not arrived"
    desk = page.locator("#transcript li.customer .body")
    await expect(desk).to_have_text([burst], timeout=SEEN_S * 1000)
    # The phone shows each message as sent, with its ticks.
    await expect(page.locator("#thread li.mine .body")).to_have_text(
        ["Hi there", "my order", "has not arrived"]
    )
    # Once at the desk, once in Connect: nothing more arrives after another quiet window.
    await asyncio.sleep(QUIET_S * 2)
    await expect(desk).to_have_count(1)
    assert await _customer_texts(world) == [burst]


async def test_an_agents_markdown_reply_appears_formatted_on_the_phone(sim, bridge, page):
    await _open_playground(page, sim)
    await _type_burst(page, "Where is my parcel?")
    await expect(page.locator("#transcript li.customer")).to_have_count(1, timeout=SEEN_S * 1000)

    await page.locator("#reply-text").fill("**Good news**: it ships _today_, see ~~Monday~~")
    await page.get_by_role("button", name="Send reply").click()

    reply = page.locator("#thread li.theirs .body")
    await expect(reply).to_have_text("Good news: it ships today, see Monday", timeout=SEEN_S * 1000)
    await expect(reply.locator("strong")).to_have_text("Good news")
    await expect(reply.locator("em")).to_have_text("today")
    await expect(reply.locator("s, del")).to_have_text("Monday")


async def test_an_agents_photo_is_viewable_at_the_desk_and_on_the_phone(
    sim, bridge, page, repo_root
):
    await _open_playground(page, sim)
    await _type_burst(page, "Can you send a picture?")
    await expect(page.locator("#transcript li.customer")).to_have_count(1, timeout=SEEN_S * 1000)

    await page.get_by_text("Send a file as the agent").click()
    await page.locator("#agent-file").set_input_files(repo_root / "tests/fixtures/media/photo.jpg")
    await page.get_by_role("button", name="Send the file to the customer").click()

    # Shown from the bytes each side holds: Connect's attachment, the WhatsApp media.
    for image in (page.locator("#transcript li.agent img"), page.locator("#thread li.theirs img")):
        await expect(image).to_have_count(1, timeout=SEEN_S * 1000)
        await expect(image).to_have_js_property("naturalWidth", 320)


async def test_a_customers_photo_from_the_phone_is_viewable_at_the_desk(
    sim, bridge, page, repo_root
):
    """The phone attaches a photo; the bridge forwards it as a Connect attachment."""
    await _open_playground(page, sim)
    await page.get_by_text("Attach a file or send a sample burst").click()
    await page.locator("#file").set_input_files(repo_root / "tests/fixtures/media/photo.jpg")
    await page.locator("#caption").fill("the damaged box")
    await page.get_by_role("button", name="Send file").click()

    image = page.locator("#transcript li.customer img")
    await expect(image).to_have_count(1, timeout=SEEN_S * 1000)
    await expect(image).to_have_js_property("naturalWidth", 320)
    await expect(page.locator("#transcript li.customer .body").first).to_contain_text(
        "the damaged box"
    )


async def _park_an_inbound_message(aws_clients, resources, world: Sandbox, body: str) -> None:
    """A customer's message that failed for good: taken off the inbound queue, parked."""
    await world.send(WA_ID, text(body))
    inbound = resources.queue_url(resources.names.inbound_queue)
    messages: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while not messages:
            response = await aws_clients.sqs.receive_message(
                QueueUrl=inbound, MaxNumberOfMessages=1, WaitTimeSeconds=1
            )
            messages = response.get("Messages", [])
    (message,) = messages
    dlq = DeadLetterQueue(
        sqs=aws_clients.sqs, queue_url=resources.queue_url(resources.names.inbound_dlq)
    )
    # A careless reason (it names the customer): the console must still mask it.
    await dlq.park(
        message["Body"],
        reason=f"Connect refused the chat of {WA_ID}",
        source="inbound",
        cause="retries_exhausted",
    )
    await aws_clients.sqs.delete_message(QueueUrl=inbound, ReceiptHandle=message["ReceiptHandle"])


async def _open_console(page: Page, admin_url: str) -> None:
    # The link `make dev` prints: the token rides in the fragment.
    await page.goto(f"{admin_url}/console#token={TOKEN}")
    await expect(page.locator("#main")).to_be_visible(timeout=10_000)
    assert TOKEN not in page.url, "the console keeps the token out of the address bar"


async def test_a_parked_message_redriven_from_the_console_is_delivered_once(
    sim, resources, aws_clients, world, page
):
    body = "Please call me back"
    await _park_an_inbound_message(aws_clients, resources, world, body)

    async with RunningBridge(bridge_settings(resources)) as admin:
        await _open_console(page, str(admin.base_url).rstrip("/"))
        inbound = page.get_by_role("region", name="Dead-letter queue inbound")
        await expect(inbound.locator("tbody tr")).to_have_count(1, timeout=10_000)
        # Read-only until actions are enabled.
        redrive = inbound.get_by_role("button", name=re.compile("^Redrive message"))
        await expect(redrive).to_be_hidden()

        await page.get_by_label("Enable actions").check()
        await redrive.click()

        await expect(page.locator("#notice")).to_contain_text("1 redriven")

        async def delivered() -> bool:
            return await _customer_texts(world) == [body]

        await eventually(delivered, timeout_s=SEEN_S, interval_s=0.25, message="not delivered")
        await expect(inbound.locator("tbody tr")).to_have_text(["Nothing parked."], timeout=10_000)
        # Redrive is one resend: nothing else arrives after another quiet window.
        await asyncio.sleep(QUIET_S * 2)
        assert await _customer_texts(world) == [body]


async def test_the_console_never_shows_a_number_the_token_or_message_content(
    sim, resources, aws_clients, world, page
):
    parked = "My card number is in this message"
    await _park_an_inbound_message(aws_clients, resources, world, parked)
    live = "Hello, this message is buffered"
    # A quiet window longer than the console's refresh, so a refresh sees the burst buffered.
    settings = bridge_settings(resources, buffer_quiet_s=5.0, buffer_max_wait_s=10.0)
    async with RunningBridge(settings) as admin:
        await _open_console(page, str(admin.base_url).rstrip("/"))
        await world.send(WA_ID, text(live))
        pages: list[str] = []
        for table in ("#buffers", "#chats"):  # buffered first, then a live chat
            await expect(page.locator(table)).to_contain_text("5678", timeout=SEEN_S * 1000)
            pages.append(await page.content())
        await expect(page.get_by_role("region", name="Dead-letter queue inbound")).to_contain_text(
            "retries_exhausted"
        )
        pages.append(await page.content())
        stored = await page.evaluate("sessionStorage.getItem('bridge-admin-token')")
        assert await _unlabelled(page) == []

    assert stored == TOKEN
    shown = "\n".join(pages)
    assert "5678" in shown, "the masked customer (last four digits) is shown"
    for secret in (WA_ID, WA_ID[:-4], TOKEN, parked, live, "Hello"):
        assert secret not in shown, f"the console showed {secret!r}"


async def test_the_console_flushes_a_burst_now_and_purges_only_when_confirmed(
    sim, resources, aws_clients, world, page
):
    await _park_an_inbound_message(aws_clients, resources, world, "to be purged")
    # A quiet window far longer than the test waits: only the flush can deliver in time.
    settings = bridge_settings(resources, buffer_quiet_s=45.0, buffer_max_wait_s=50.0)
    async with RunningBridge(settings) as admin:
        await _open_console(page, str(admin.base_url).rstrip("/"))
        await page.get_by_label("Enable actions").check()
        await world.send(WA_ID, text("flush me"))
        flush = page.get_by_role("button", name=re.compile("^Flush the burst of"))
        await flush.click(timeout=10_000)

        async def delivered() -> bool:
            return await _customer_texts(world) == ["flush me"]

        await eventually(delivered, timeout_s=10, interval_s=0.25, message="not flushed")
        # The flush's own answer can reach the page after the burst reached Connect; let it
        # land before the next action, or it overwrites that action's notice.
        await expect(page.locator("#notice")).to_contain_text("Flushed", timeout=15_000)

        inbound = page.get_by_role("region", name="Dead-letter queue inbound")
        purge = inbound.get_by_role("button", name="Purge inbound")
        answers = iter(["not the name", "inbound"])

        async def answer(dialog: Dialog) -> None:
            await dialog.accept(next(answers))

        page.on("dialog", answer)
        await purge.click()  # a wrong name: nothing happens
        await expect(page.locator("#notice")).to_contain_text("confirm")
        await expect(inbound.locator("tbody tr")).to_have_count(1)
        await purge.click()
        await expect(page.locator("#notice")).to_contain_text("purged", timeout=15_000)
        await expect(inbound.locator("tbody tr")).to_have_text(["Nothing parked."])
