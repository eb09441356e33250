"""Fault injection: how regional FHIR servers really misbehave, switchable per request.

An injection applies to the next ``times`` matching requests; ``resource`` narrows it to one
resource type and ``page`` to one page of a search (1 = the search request itself, 2 = the
first ``next`` link, …).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["KINDS", "FaultPlan", "Injection"]

KINDS = frozenset(
    {
        "operation_outcome",  # an OperationOutcome with ``status`` (4xx or 5xx)
        "http_error",  # ``status`` with an HTML page from a gateway, no FHIR body
        "paging_loop",  # the page's ``next`` link points back at the page itself
        "delay",  # answer normally after ``delay_s`` (a client should time out, retry)
        "malformed",  # 200 with a body that is not JSON
        "disconnect",  # full Content-Length announced, half sent, connection closed
    }
)


@dataclass(slots=True)
class Injection:
    kind: str
    times: int = 1
    resource: str | None = None
    page: int | None = None
    status: int = 500
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (known: {sorted(KINDS)})")
        if not 400 <= self.status <= 599:
            raise ValueError("status must be an HTTP error (400-599)")

    def matches(self, resource: str, page: int) -> bool:
        return (self.resource is None or self.resource == resource) and (
            self.page is None or self.page == page
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultPlan:
    """The pending injections, consumed in order by the requests they match."""

    def __init__(self) -> None:
        self._pending: list[Injection] = []
        self._lock = threading.Lock()
        self.fired = 0

    def add(self, injection: Injection) -> None:
        with self._lock:
            self._pending.append(injection)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def take(self, resource: str, page: int) -> Injection | None:
        with self._lock:
            for inj in self._pending:
                if inj.matches(resource, page):
                    inj.times -= 1
                    if inj.times <= 0:
                        self._pending.remove(inj)
                    self.fired += 1
                    return inj
        return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [i.as_dict() for i in self._pending]
