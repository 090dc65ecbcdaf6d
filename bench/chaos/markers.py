"""Unique, findable markers: one per message the harness sends.

A marker is plain ASCII of fixed width, so it survives the bridge's rendering (joining a
burst's texts, Markdown conversion, splitting) and one marker can never be the prefix of
another. Inbound markers name the customer, outbound markers the chat's customer; the
position in the sender's order is kept by the harness, not parsed back from the text.
"""

from __future__ import annotations

import re
from typing import Final, Literal

Direction = Literal["in", "out"]

_INBOUND: Final = "CHI"
_OUTBOUND: Final = "CHO"
# bench/hostile.py's valid-but-odd messages carry ODDnnnnn markers; they are inbound too.
_ODD: Final = "ODD"
_PATTERN: Final = re.compile(r"(?<![0-9A-Za-z])(?:CH[IO]\d{3}n\d{5}|ODD\d{5})(?![0-9A-Za-z])")


def inbound_marker(customer: int, number: int) -> str:
    return f"{_INBOUND}{customer:03d}n{number:05d}"


def outbound_marker(customer: int, number: int) -> str:
    return f"{_OUTBOUND}{customer:03d}n{number:05d}"


def customer_of(marker: str) -> int | None:
    """The customer index a harness marker names (None for odd-message markers)."""
    if marker.startswith((_INBOUND, _OUTBOUND)):
        return int(marker[3:6])
    return None


def direction(marker: str) -> Direction:
    return "out" if marker.startswith(_OUTBOUND) else "in"


def find_markers(text: str) -> list[str]:
    """Every marker in `text`, in the order they appear."""
    return _PATTERN.findall(text)
