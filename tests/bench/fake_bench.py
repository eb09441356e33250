"""Stand-in benchmarks for the runner's tests, run by ``bench.report.child`` like real ones."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any


def ok(quick: bool) -> dict[str, Any]:
    size = "10 records" if quick else "1,000 records"
    return {"figures": [{"figure": "fake rate", "unit": "records/s", "value": 1234.0,
                         "data_size": size}]}  # fmt: skip


def crash(quick: bool) -> dict[str, Any]:
    raise RuntimeError("the fake benchmark fell over")


def hang(quick: bool) -> dict[str, Any]:
    time.sleep(120)
    return {}


#: Where ``main`` writes unless redirected; the runner must never let it get there.
RESULTS = Path(tempfile.gettempdir()) / "gridhub-fake-bench-must-not-exist.json"


def main(argv: list[str] | None = None) -> int:
    """A command-line benchmark that writes its results file, as bench/*/__main__.py do."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or RESULTS
    rows = [{"figure": "fake rate", "unit": "records/s", "value": 10.0 * args.size,
             "data_size": f"{args.size} records"}]  # fmt: skip
    out.write_text(json.dumps(rows), encoding="utf-8")
    return 0
