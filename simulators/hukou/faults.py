"""Fault injection: the ways a district SOAP service really misbehaves, switchable per request.

A fault applies to the next ``times`` matching requests; ``page`` narrows it to one page of a
``QueryChangedPersons`` run (1 = the first page, asked without a token) and ``operation`` to
one operation. Hostile payloads (XXE, billion laughs) are here too: the adapter must refuse
them whatever the server sends.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["KINDS", "FaultPlan", "Injection"]

KINDS = frozenset(
    {
        "http_500",  # 500 with an HTML error page, no SOAP envelope
        "http_503",  # 503 Service Unavailable with Retry-After
        "delay",  # answer normally after delay_s (the client should time out)
        "malformed",  # 200 with XML that is not well formed
        "truncate",  # 200 with the body cut in half (Content-Length matches the cut)
        "disconnect",  # full Content-Length announced, half sent, connection closed
        "soap_fault",  # a SOAP fault; fault_code Server (transient) or Client
        "xxe",  # a DOCTYPE with an external entity reading a local file
        "billion_laughs",  # nested entity expansion
    }
)


@dataclass(slots=True)
class Injection:
    kind: str
    times: int = 1
    page: int | None = None
    operation: str | None = None
    delay_s: float = 0.0
    fault_code: str = "Server"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (known: {sorted(KINDS)})")
        if self.fault_code not in ("Server", "Client"):
            raise ValueError("fault_code is Server or Client")

    def matches(self, operation: str, page: int | None) -> bool:
        return (self.operation is None or self.operation == operation) and (
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

    def take(self, operation: str, page: int | None) -> Injection | None:
        with self._lock:
            for inj in self._pending:
                if inj.matches(operation, page):
                    inj.times -= 1
                    if inj.times <= 0:
                        self._pending.remove(inj)
                    self.fired += 1
                    return inj
        return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [i.as_dict() for i in self._pending]
