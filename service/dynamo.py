"""The service's one DynamoDB item codec: plain Python values ⇄ the low-level wire form.

DynamoDB's low-level API (what aiobotocore speaks) wraps every value in a type tag
(`{"S": "..."}`, `{"N": "12"}`, `{"L": [...]}`, `{"M": {...}}`); every store (sessions,
ledger, send claims, raw messages, leases) reads and writes items through this codec
instead of spelling the tags out. Numbers are Python `int` (the bridge stores no
fractions: times are whole seconds or milliseconds); None means "attribute absent" on
encode. Floats are refused on purpose: DynamoDB's decimal numbers and binary floats do
not round-trip, and nothing here needs them (coordinates travel inside JSON strings).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

Item = dict[str, Any]


def encode_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, Mapping):
        return {"M": encode(value)}
    if isinstance(value, Sequence):
        return {"L": [encode_value(v) for v in value]}
    raise TypeError(f"no DynamoDB form for {type(value).__name__}")


def encode(values: Mapping[str, Any]) -> Item:
    """An item (or key) in low-level form; attributes whose value is None are left out."""
    return {name: encode_value(value) for name, value in values.items() if value is not None}


def decode_value(wire: Mapping[str, Any]) -> Any:
    (tag, value), *rest = wire.items()
    if rest:
        raise ValueError("a DynamoDB value has exactly one type tag")
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise ValueError(f"unknown DynamoDB type tag {tag!r}")
    return decoder(value)


def decode(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item read from DynamoDB (GetItem, Query, a stream image) as plain values."""
    return {name: decode_value(value) for name, value in item.items()}


_DECODERS: Final[Mapping[str, Callable[[Any], Any]]] = {
    "S": lambda v: v,
    "B": lambda v: v,
    "BOOL": lambda v: v,
    "N": int,
    "NULL": lambda _: None,
    "L": lambda v: [decode_value(x) for x in v],
    "M": decode,
    "SS": set,
    "NS": lambda v: {int(x) for x in v},
}
