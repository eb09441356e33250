"""The registry: each benchmark runnable, each figure found in what its benchmark writes."""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from bench.report import assemble, registry
from bench.report.registry import Target

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


@pytest.mark.parametrize(
    ("target", "value", "peer", "met"),
    [
        pytest.param(Target(">=", 5000), 5000.0, None, True, id="ge-equal"),
        pytest.param(Target(">=", 5000), 4999.9, None, False, id="ge-below"),
        pytest.param(Target("<", 20), 20.0, None, False, id="lt-equal"),
        pytest.param(Target("<", 20), 19.0, None, True, id="lt-below"),
        pytest.param(Target(">="), 0.99, 0.995, False, id="peer-beats-us"),
        pytest.param(Target("<="), 2.8, 6.7, True, id="faster-than-peer"),
        pytest.param(Target(">="), 0.99, None, None, id="peer-missing"),
        pytest.param(Target(">=", 5), None, None, None, id="value-missing"),
        pytest.param(Target("flat", text="flat"), 3.0, None, None, id="text-target"),
    ],
)
def test_target_verdicts(
    target: Target, value: float | None, peer: float | None, met: bool | None
) -> None:
    assert target.met(value, peer) is met


def test_an_unknown_comparison_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown comparison"):
        Target("=>", 5)


def test_targets_read_as_the_issues_write_them() -> None:
    assert Target(">=", 100000).describe() == ">= 100,000"
    assert Target(">=").describe("Splink 5") == ">= Splink 5"


def test_names_are_unique_and_select_keeps_registry_order() -> None:
    names = registry.names()
    assert len(names) == len(set(names))
    picked = registry.select(["api", "hukou"])
    assert [b.name for b in picked] == ["hukou", "api"]
    assert registry.select(None) == list(registry.BENCHMARKS)


def test_an_unknown_benchmark_is_named_in_the_error() -> None:
    with pytest.raises(KeyError, match="nope"):
        registry.select(["hukou", "nope"])


@pytest.mark.parametrize("bench", registry.BENCHMARKS, ids=registry.names())
def test_every_benchmark_can_be_started(bench: registry.Benchmark) -> None:
    if bench.call is not None:
        module, function = bench.call.split(":")
        assert callable(getattr(importlib.import_module(module), function))
    else:
        assert bench.module is not None
        assert importlib.util.find_spec(bench.module) is not None
    assert bench.figures, "a benchmark with no reported figure is not in the report"


def _prior(name: str) -> list[dict[str, Any]]:
    """The rows of the benchmark's last recorded full run, as the report would read them."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return []
    output = json.loads(path.read_text(encoding="utf-8"))
    if name == "resolution":  # run(quick) returns both documents and their headline rows
        from bench.resolution.__main__ import headline

        district = json.loads((RESULTS / "resolution_district.json").read_text("utf-8"))
        output = {"figures": headline(output, district), "febrl": output, "district": district}
    return assemble.rows_of(output, registry.get(name).rows_from)


RECORDED = [b for b in registry.BENCHMARKS if _prior(b.name)]


def test_every_benchmark_has_a_recorded_run() -> None:
    assert [b.name for b in RECORDED] == registry.names()


@pytest.mark.parametrize("bench", RECORDED, ids=[b.name for b in RECORDED])
def test_every_figure_is_found_in_the_benchmarks_own_results(bench: registry.Benchmark) -> None:
    """The patterns name figures the benchmark really writes (checked on its last full run)."""
    rows = _prior(bench.name)
    for spec in bench.figures:
        row = assemble.find(spec, rows)
        assert row is not None, f"{bench.name}: nothing matches {spec.match!r}"
        assert row.get(spec.value_key) is not None
        if spec.peer is not None:
            assert assemble.find_peer(spec, row, rows) is not None, spec.name
