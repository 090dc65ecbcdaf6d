"""A very long agent message is converted without freezing the event loop."""

import asyncio
import time

from service.bridge.outbound import formatted_for_whatsapp
from service.bridge.whatsapp_format import WHATSAPP_TEXT_LIMIT

_PARAGRAPH = (
    "**Order 12345** is _on its way_ with `tracking` [here](https://example.com/t) "
    "and ~~old~~ news.\n- one *item*\n- two __items__\n\n"
)


async def _max_loop_gap_while(work) -> tuple[float, object]:
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    try:
        result = await work
    finally:
        done.set()
        await ticking
    return max(gaps, default=0.0), result


async def test_a_64000_character_markdown_message_keeps_the_loop_turning():
    content = (_PARAGRAPH * (64_000 // len(_PARAGRAPH) + 1))[:64_000]
    started = time.perf_counter()
    gap, parts = await _max_loop_gap_while(formatted_for_whatsapp(content, markdown=True))
    assert time.perf_counter() - started < 1.0
    assert gap < 0.1, f"the event loop stalled {gap:.3f} s"
    assert isinstance(parts, list)
    assert all(len(p) <= WHATSAPP_TEXT_LIMIT for p in parts)
    assert "*Order 12345*" in parts[0]


async def test_beyond_the_cap_the_text_is_sent_as_written():
    content = "*a" * 40_000  # 80,000 characters: more than any agent could type
    parts = await formatted_for_whatsapp(content, markdown=True)
    assert "".join(parts) == content
