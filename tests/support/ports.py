"""Ports for servers a test starts later, in another process, from a number it passes on.

``bind(("", 0))`` hands out a port from the kernel's ephemeral range and frees it again when
the probe closes; a test that passes that number to a process which binds it seconds later
races every other process on the machine — CI runs three test groups side by side, each
starting brokers, simulators and clients whose sockets are numbered from the same range (a
demo run once found its health port taken). A port *below* that range is never handed out by
the kernel, so only a process that chose it explicitly can hold it.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

__all__ = ["ports_below_ephemeral"]

_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_FLOOR = 10_000


def _ephemeral_low() -> int:
    try:
        return int(_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def ports_below_ephemeral(count: int, rng: random.Random | None = None) -> list[int]:
    """``count`` distinct loopback ports, free now, that the kernel will not hand out."""
    rng = rng or random.Random()
    high = _ephemeral_low()
    if high - _FLOOR < count * 10:
        raise RuntimeError(f"too few ports below the ephemeral range (it starts at {high})")
    chosen: list[int] = []
    while len(chosen) < count:
        port = rng.randrange(_FLOOR, high)
        if port not in chosen and _free(port):
            chosen.append(port)
    return chosen
