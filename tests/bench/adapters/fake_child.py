"""A measured child for the harness tests: holds 64 MiB for a moment, then answers."""

from __future__ import annotations

import sys
import time
from typing import Any

from bench.adapters import harness


def body(spec: dict[str, Any]) -> dict[str, Any]:
    held = bytearray(64 * 2**20)
    for i in range(0, len(held), 4096):  # touch every page, so it is resident
        held[i] = 1
    time.sleep(0.5)
    return {"doubled": spec["n"] * 2, "held": len(held)}


if __name__ == "__main__":
    sys.exit(harness.child_main(sys.argv[2], body))
