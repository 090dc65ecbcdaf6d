"""Injected failures: the next N calls, or a fraction of calls, of one operation fail.

A rule answers with the given error code; the protocol layer gives it the HTTP status the
service model declares for it (or the fallback table), so the bridge sees exactly what a
real throttle or outage looks like.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class FaultRule:
    operation: str
    error: str
    message: str
    service: str | None = None
    remaining: int | None = None  # None: rate-based, never used up
    rate: float | None = None
    # Matching calls still to let through before failing any.
    pass_first: int = 0
    injected: int = 0
    rule_id: int = 0

    def applies_to(self, service: str, operation: str) -> bool:
        return self.operation == operation and self.service in {None, service}

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.rule_id,
            "service": self.service,
            "operation": self.operation,
            "error": self.error,
            "message": self.message,
            "remaining": self.remaining,
            "rate": self.rate,
            "after": self.pass_first,
            "injected": self.injected,
        }


_DEFAULT_MESSAGES = {
    "ThrottlingException": "Rate exceeded",
    "ThrottledRequestException": "Rate exceeded",
    "LimitExceededException": "Rate exceeded",
    "AccessDeniedException": "You do not have sufficient access to perform this action.",
}


@dataclass(slots=True)
class FaultInjector:
    rng: random.Random = field(default_factory=random.Random)
    _rules: list[FaultRule] = field(default_factory=list)
    _next_id: int = 1

    def add(
        self,
        *,
        operation: str,
        error: str,
        message: str | None = None,
        service: str | None = None,
        count: int | None = None,
        rate: float | None = None,
        after: int = 0,
    ) -> FaultRule:
        if (count is None) == (rate is None):
            raise ValueError("give exactly one of count or rate")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1")
        if rate is not None and not 0 < rate <= 1:
            raise ValueError("rate must be in (0, 1]")
        rule = FaultRule(
            operation=operation,
            error=error,
            message=message or _DEFAULT_MESSAGES.get(error, f"Injected {error}"),
            service=service,
            remaining=count,
            rate=rate,
            pass_first=after,
            rule_id=self._next_id,
        )
        self._next_id += 1
        self._rules.append(rule)
        return rule

    def take(self, service: str, operation: str) -> FaultRule | None:
        """The rule that fails this call, if any; count-based rules are used up in order."""
        for rule in self._rules:
            if not rule.applies_to(service, operation):
                continue
            if rule.pass_first > 0:
                rule.pass_first -= 1
                continue
            if rule.remaining is not None:
                if rule.remaining > 0:
                    rule.remaining -= 1
                    rule.injected += 1
                    return rule
            elif rule.rate is not None and self.rng.random() < rule.rate:
                rule.injected += 1
                return rule
        return None

    def rules(self) -> list[FaultRule]:
        return list(self._rules)

    def clear(self) -> None:
        self._rules.clear()
