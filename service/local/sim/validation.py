"""Request validation against botocore's shapes, the checks the real services make first.

Required members, types, string/blob/list/map lengths, numeric ranges, enums and patterns.
Messages follow the services' wording ("1 validation error detected: Value 'x' at 'y'
failed to satisfy constraint: ...") so a bridge that logs them reads the same text it would
read in production. Patterns are Smithy patterns, i.e. searched, not anchored, except for
services that match them whole (Transcribe rejects `a/b` for `^[0-9a-zA-Z._-]+`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import structlog
from botocore.model import ListShape, MapShape, Shape, StructureShape

_log = structlog.get_logger(__name__)

# Values longer than this are not echoed in messages (a whole chat message, a blob).
_ECHO_LIMIT: Final = 64

_UNCOMPILABLE: Final = object()
_patterns: dict[str, re.Pattern[str] | object] = {}


def _pattern(source: str) -> re.Pattern[str] | None:
    compiled = _patterns.get(source)
    if compiled is None:
        try:
            compiled = re.compile(source)
        except re.error:
            # Some model patterns use ECMAScript-only syntax (e.g. \p{..}); skipping the check
            # is safer than rejecting valid input. Noted once per pattern.
            _log.warning("sim_pattern_skipped", pattern=source)
            compiled = _UNCOMPILABLE
        _patterns[source] = compiled
    return compiled if isinstance(compiled, re.Pattern) else None


def camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _describe(value: object, *, sensitive: bool) -> str:
    if value is None:
        return "Value null"
    if sensitive or isinstance(value, (bytes, dict, list)):
        return "Value"
    text = str(value)
    if len(text) > _ECHO_LIMIT:
        return "Value"
    return f"Value '{text}'"


class _Validator:
    def __init__(self, *, full_match: bool) -> None:
        self.errors: list[str] = []
        self._full_match = full_match

    def fail(self, value: object, path: str, constraint: str, *, sensitive: bool) -> None:
        where = path or "input"
        self.errors.append(
            f"{_describe(value, sensitive=sensitive)} at '{where}' failed to satisfy "
            f"constraint: Member must {constraint}"
        )

    def check(self, shape: Shape, value: object, path: str, *, sensitive: bool = False) -> None:
        sensitive = sensitive or bool(shape.metadata.get("sensitive"))
        kind = shape.type_name
        if kind == "structure":
            self._structure(shape, value, path, sensitive=sensitive)
        elif kind == "list":
            self._list(shape, value, path, sensitive=sensitive)
        elif kind == "map":
            self._map(shape, value, path, sensitive=sensitive)
        elif kind == "string":
            self._string(shape, value, path, sensitive=sensitive)
        elif kind in {"integer", "long"}:
            self._number(shape, value, path, integral=True, sensitive=sensitive)
        elif kind in {"float", "double"}:
            self._number(shape, value, path, integral=False, sensitive=sensitive)
        elif kind == "boolean":
            if not isinstance(value, bool):
                self.fail(value, path, "be a boolean", sensitive=sensitive)
        elif kind == "blob":
            self._blob(shape, value, path, sensitive=sensitive)
        elif kind == "timestamp" and not isinstance(value, datetime):
            self.fail(value, path, "be a timestamp", sensitive=sensitive)

    def _structure(self, shape: Shape, value: object, path: str, *, sensitive: bool) -> None:
        if not isinstance(value, Mapping) or not isinstance(shape, StructureShape):
            self.fail(value, path, "be a structure", sensitive=sensitive)
            return
        for name in shape.required_members:
            if value.get(name) is None:
                self.fail(None, _join(path, name), "not be null", sensitive=sensitive)
        for name, member in shape.members.items():
            member_value = value.get(name)
            if member_value is not None:
                self.check(member, member_value, _join(path, name), sensitive=sensitive)

    def _list(self, shape: Shape, value: object, path: str, *, sensitive: bool) -> None:
        if not isinstance(value, list) or not isinstance(shape, ListShape):
            self.fail(value, path, "be a list", sensitive=sensitive)
            return
        self._length(shape, value, len(value), path, sensitive=sensitive)
        for index, item in enumerate(value):
            self.check(shape.member, item, f"{path}.{index + 1}", sensitive=sensitive)

    def _map(self, shape: Shape, value: object, path: str, *, sensitive: bool) -> None:
        if not isinstance(value, Mapping) or not isinstance(shape, MapShape):
            self.fail(value, path, "be a map", sensitive=sensitive)
            return
        self._length(shape, value, len(value), path, sensitive=sensitive)
        for key, item in value.items():
            self.check(shape.key, key, f"{path}.key", sensitive=sensitive)
            self.check(shape.value, item, f"{path}.{key}", sensitive=sensitive)

    def _string(self, shape: Shape, value: object, path: str, *, sensitive: bool) -> None:
        if not isinstance(value, str):
            self.fail(value, path, "be a string", sensitive=sensitive)
            return
        self._length(shape, value, len(value), path, sensitive=sensitive)
        enum: list[str] = shape.metadata.get("enum") or []
        if enum and value not in enum:
            self.fail(
                value, path, f"satisfy enum value set: [{', '.join(enum)}]", sensitive=sensitive
            )
        source = shape.metadata.get("pattern")
        if isinstance(source, str):
            compiled = _pattern(source)
            if compiled is not None and not self._matches(compiled, value):
                self.fail(
                    value,
                    path,
                    f"satisfy regular expression pattern: {source}",
                    sensitive=sensitive,
                )

    def _matches(self, pattern: re.Pattern[str], value: str) -> bool:
        found = pattern.fullmatch(value) if self._full_match else pattern.search(value)
        return found is not None

    def _blob(self, shape: Shape, value: object, path: str, *, sensitive: bool) -> None:
        if not isinstance(value, bytes):
            self.fail(value, path, "be a blob", sensitive=sensitive)
            return
        self._length(shape, value, len(value), path, sensitive=sensitive)

    def _number(
        self, shape: Shape, value: object, path: str, *, integral: bool, sensitive: bool
    ) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (integral and isinstance(value, float))
        ):
            kind = "an integer" if integral else "a number"
            self.fail(value, path, f"be {kind}", sensitive=sensitive)
            return
        number = value
        low = shape.metadata.get("min")
        high = shape.metadata.get("max")
        if low is not None and number < low:
            self.fail(
                value, path, f"have value greater than or equal to {low}", sensitive=sensitive
            )
        if high is not None and number > high:
            self.fail(value, path, f"have value less than or equal to {high}", sensitive=sensitive)

    def _length(
        self, shape: Shape, value: object, length: int, path: str, *, sensitive: bool
    ) -> None:
        low = shape.metadata.get("min")
        high = shape.metadata.get("max")
        if low is not None and length < low:
            self.fail(
                value, path, f"have length greater than or equal to {low}", sensitive=sensitive
            )
        if high is not None and length > high:
            self.fail(value, path, f"have length less than or equal to {high}", sensitive=sensitive)


def _join(path: str, name: str) -> str:
    return f"{path}.{camel(name)}" if path else camel(name)


def validate(
    shape: StructureShape | None, params: Mapping[str, Any], *, full_match: bool = False
) -> list[str]:
    """Every constraint violation of `params`, in the services' wording (empty when valid).

    `full_match`: the whole value must match a pattern, not just a part of it.
    """
    if shape is None:
        return []
    validator = _Validator(full_match=full_match)
    validator.check(shape, params, "")
    return validator.errors


def summarize(errors: list[str]) -> str:
    count = len(errors)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(errors)
