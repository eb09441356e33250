"""From the load process's samples to figures: per protocol, inside a window of time.

The window is the sync's run (or the whole load-alone phase); a request belongs to it when it
was *scheduled* inside it, so a request scheduled during the sync that answered after it still
counts — with its full latency. Every scheduled request is accounted for: answered (ok),
refused or failed (errors, by status); none may go missing between the two.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from bench.load.client import Sample


def quantile(values: list[float], q: float) -> float | None:
    """Nearest-rank quantile (no interpolation: a p99 is a latency some request really had)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def window(
    samples: list[Sample], protocol: str, start: float, end: float, offered_rate: float
) -> dict[str, Any]:
    """Figures of ``protocol``'s requests scheduled in [start, end)."""
    inside = [s for s in samples if s[0] == protocol and start <= s[1] < end]
    ok = [s for s in inside if s[5]]
    latencies = [s[3] for s in ok if s[3] is not None]
    errors = Counter(s[4] for s in inside if not s[5])
    seconds = max(end - start, 1e-9)
    return {
        "protocol": protocol,
        "window_s": round(seconds, 2),
        "offered_rate": offered_rate,
        "scheduled": len(inside),
        "ok": len(ok),
        "errors": sum(errors.values()),
        "error_statuses": dict(errors),
        "throughput": round(len(ok) / seconds, 1),
        "p50_ms": _ms(quantile(latencies, 0.50)),
        "p99_ms": _ms(quantile(latencies, 0.99)),
        "max_ms": _ms(max(latencies)) if latencies else None,
        # How late the client itself sent requests: when this is large, the load process was
        # starved of CPU and part of the latency is the client's, not the servers'.
        "max_send_lag_ms": _ms(max((s[2] for s in inside), default=0.0)),
    }
