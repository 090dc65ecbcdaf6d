"""`service/event_loop.py`: uvloop where it can be imported, the standard loop otherwise."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from service.event_loop import loop_factory, loop_name, run


async def _name() -> str:
    await asyncio.sleep(0)
    return loop_name()


def test_the_bridge_runs_on_uvloop_by_choice():
    assert loop_factory("uvloop") is uvloop.new_event_loop
    assert run(_name(), "uvloop") == "uvloop"


def test_the_standard_loop_when_asked():
    assert loop_factory("asyncio") is None
    assert run(_name(), "asyncio") == "asyncio"


def test_the_standard_loop_where_uvloop_cannot_be_imported(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import raises ImportError
    assert loop_factory("uvloop") is None
    assert run(_name(), "uvloop") == "asyncio"
