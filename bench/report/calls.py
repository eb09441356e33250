"""Benchmarks that are run by calling a function rather than their command line: the
resolution bench offers ``run(quick)``, which runs FEBRL and the district with their presets."""

from __future__ import annotations

from typing import Any


def resolution(quick: bool) -> Any:
    """gridhub and Splink side by side (``bench.resolution.__main__.run``)."""
    from bench.resolution import __main__ as resolution_bench

    run = getattr(resolution_bench, "run", None)
    if run is None:
        raise RuntimeError("bench.resolution has no run(quick) entry point")
    return run(quick)
