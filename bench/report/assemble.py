"""From the benchmarks' own outputs to the report: each registered figure found, compared with
its target and its peer, and stamped with the machine, the load, the date, the commit and the
calibration of the run it comes from. ``merge`` (``--only``) keeps an older figure only beside
new ones of the same machine speed.
"""

from __future__ import annotations

import re
import statistics
from datetime import UTC, datetime
from typing import Any

from bench.report.conditions import MIXED_LIMIT, apart, git_commit, machine
from bench.report.registry import Benchmark, Figure
from bench.report.runner import BenchRun

#: 2: each run and figure carries its calibration and its own commit (1 had neither; such
#: reports still load: their calibration is unknown, their commit the report's).
SCHEMA = 2


def rows_of(
    output: Any, paths: tuple[tuple[str, ...], ...] = (("figures",),)
) -> list[dict[str, Any]]:
    """A benchmark's figure rows: a bare list, or the lists under ``paths`` of a document."""
    if isinstance(output, list):
        found: list[Any] = output
    else:
        found = []
        for path in paths:
            node = output
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, list):
                found += node
    return [r for r in found if isinstance(r, dict) and "figure" in r]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _matching(
    rows: list[dict[str, Any]], match: str, where: tuple[tuple[str, str], ...]
) -> list[dict[str, Any]]:
    pattern = re.compile(match)
    return [
        r
        for r in rows
        if pattern.search(str(r["figure"]))
        and all(re.fullmatch(v, str(r.get(k))) for k, v in where)
    ]


def find_peer(spec: Figure, row: dict[str, Any], rows: list[dict[str, Any]]) -> float | None:
    """The peer's value beside gridhub's ``row``: in the row itself, or in a row like it."""
    peer = spec.peer
    if peer is None:
        return None
    if peer.key is not None:
        return _number(row.get(peer.key))
    if peer.match is None:
        return None
    found = [
        r
        for r in _matching(rows, peer.match, peer.where)
        if r is not row and all(r.get(k) == row.get(k) for k in peer.same)
    ]
    return None if not found else _number(found[-1].get("value"))


def find(spec: Figure, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The row ``spec`` names: the last (largest size) match, or the largest or smallest."""
    found = _matching(rows, spec.match, spec.where)
    if spec.with_peer:
        found = [r for r in found if find_peer(spec, r, rows) is not None]
    if not found:
        return None
    if spec.pick == "last":
        return found[-1]
    numeric = [r for r in found if _number(r.get(spec.value_key)) is not None]
    if not numeric:
        return found[-1]
    choose = max if spec.pick == "max" else min
    return choose(numeric, key=lambda r: float(r[spec.value_key]))


def figure(
    bench: Benchmark, spec: Figure, rows: list[dict[str, Any]], run: BenchRun | None
) -> dict[str, Any]:
    """One report entry for ``spec``; a missing row gives value None and says why."""
    row = find(spec, rows)
    value = None if row is None else _number(row.get(spec.value_key))
    peer: dict[str, Any] | None = None
    if spec.peer is not None:
        peer_value = None if row is None else find_peer(spec, row, rows)
        peer = {"name": spec.peer.name, "value": peer_value}
    met: bool | None = None
    if spec.target is not None:
        met = spec.target.met(value, None if peer is None else peer["value"])
        if spec.target.text is not None and row is not None and isinstance(row.get("met"), bool):
            met = row["met"]
    entry: dict[str, Any] = {
        "benchmark": bench.name,
        "issue": bench.issue,
        "name": spec.name,
        "kind": spec.kind,
        "unit": spec.unit if row is None else str(row.get("unit") or spec.unit),
        "gridhub": value,
        "peer": peer,
        "target": None
        if spec.target is None
        else spec.target.describe(None if spec.peer is None else spec.peer.name),
        "target_bound": None if spec.target is None else spec.target.bound,
        "met": met,
        "data_size": None if row is None else row.get("data_size") or row.get("benchmark"),
        "source_figure": None if row is None else row["figure"],
    }
    if row is None:
        entry["missing"] = (
            f"benchmark {run.status}: {run.error}"
            if run is not None and run.error
            else "the benchmark gave no figure matching " + spec.match
        )
    return entry


def build(
    benches: list[Benchmark],
    runs: list[BenchRun],
    mode: str,
    *,
    started: datetime | None = None,
    machine_info: dict[str, Any] | None = None,
    commit: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole report (the content of ``latest.json``)."""
    by_name = {r.name: r for r in runs}
    info = machine_info if machine_info is not None else machine()
    git = commit if commit is not None else git_commit()
    date = (started or datetime.now(UTC)).isoformat(timespec="seconds")
    figures: list[dict[str, Any]] = []
    benchmarks: list[dict[str, Any]] = []
    for bench in benches:
        run = by_name.get(bench.name)
        rows = rows_of(None if run is None else run.output, bench.rows_from)
        own_commit = None if run is None else run.git_commit  # None: an older report's run
        run_dirty = None if run is None else run.git_dirty
        stamp = {
            "machine": info,
            "load_average_at_start": None if run is None else run.load_average_at_start,
            "load_average_at_end": None if run is None else run.load_average_at_end,
            "date": date if run is None or run.date is None else run.date,
            "git_commit": git["commit"] if own_commit is None else own_commit,
            "git_dirty": git.get("dirty") if own_commit is None else run_dirty,
            "calibration_cpu_s": None if run is None else run.calibration_cpu_s,
            "at_target_size": mode == "full",
        }
        for spec in bench.figures:
            figures.append(figure(bench, spec, rows, run) | stamp)
        summary: dict[str, Any] = {"name": bench.name, "issue": bench.issue}
        summary["summary"] = bench.summary
        summary |= {"status": "not run"} if run is None else run.summary()
        summary["all_figures"] = [
            {k: r.get(k) for k in ("figure", "unit", "value", "target", "met", "data_size")}
            for r in rows
        ]
        benchmarks.append(summary)
    loads = [r.load_average_at_start for r in runs] + [r.load_average_at_end for r in runs]
    return {
        "schema": SCHEMA,
        "mode": mode,
        "date": date,
        "git": git,
        "machine": info,
        "load_average_at_start": loads[0] if loads else None,
        "load_average_at_end": runs[-1].load_average_at_end if runs else None,
        "figures": figures,
        "benchmarks": benchmarks,
    }


class MixedMachines(ValueError):
    """Older figures would stand beside new ones measured at another machine speed."""


def run_calibration(report: dict[str, Any]) -> float | None:
    """This run's machine speed: the median of its benchmarks' calibrations (one is noisy)."""
    found = [b["calibration_cpu_s"] for b in report.get("benchmarks", [])
             if isinstance(b.get("calibration_cpu_s"), int | float)]  # fmt: skip
    return statistics.median(found) if found else None


def mixed_machines(
    previous: dict[str, Any], calibration: float | None, ran: set[str]
) -> str | None:
    """Why the measured figures ``previous`` keeps (those of benchmarks not in ``ran``) cannot
    stand beside a run of calibration ``calibration``, in one line; None if they can."""
    kept: dict[str, float | None] = {}
    for f in previous.get("figures", []):
        name = f.get("benchmark")
        if name in ran or f.get("gridhub") is None:
            continue  # replaced, or nothing measured to mix up
        value = f.get("calibration_cpu_s")
        kept[name] = value if isinstance(value, int | float) else kept.get(name)
    if not kept:
        return None
    how = "run them again with this one, or pass --allow-mixed-machines to keep them anyway"
    if calibration is None:
        return f"not merged: this run has no calibration to compare the kept figures with; {how}"
    far = {n: c for n, c in kept.items() if c is not None and apart(c, calibration) > MIXED_LIMIT}
    if far:
        listed = ", ".join(f"{n} {c:.2f} s" for n, c in sorted(far.items()))
        return (
            f"not merged: the kept figures of {listed} were measured at a calibration more than "
            f"{MIXED_LIMIT:.0%} away from this run's {calibration:.2f} s (CPU of a 10M-iteration "
            f"Python loop): another machine speed; {how}"
        )
    unknown = sorted(n for n, c in kept.items() if c is None)
    if unknown:
        return (
            f"not merged: the kept figures of {', '.join(unknown)} have no calibration (measured "
            f"before runs were calibrated), so they may come from another machine speed than "
            f"this run's {calibration:.2f} s; {how}"
        )
    return None


def merge(
    previous: dict[str, Any] | None,
    fresh: dict[str, Any],
    order: list[str],
    *,
    allow_mixed: bool = False,
) -> dict[str, Any]:
    """``fresh`` plus the benchmarks of ``previous`` it did not run (``--only``), if both were
    run in the same mode; each figure keeps its own date, load, commit and calibration.

    Raises ``MixedMachines`` if a kept figure's calibration is more than ``MIXED_LIMIT`` away
    from this run's, or unknown, unless ``allow_mixed``: the table would otherwise put figures
    of a ~1.7x faster machine beside this one's as if they were comparable."""
    if not previous or previous.get("mode") != fresh["mode"]:
        return fresh
    ran = {b["name"] for b in fresh["benchmarks"]}
    if not allow_mixed:
        reason = mixed_machines(previous, run_calibration(fresh), ran)
        if reason is not None:
            raise MixedMachines(reason)
    rank = {name: i for i, name in enumerate(order)}

    def ordered(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
        return sorted(items, key=lambda item: rank.get(item[key], len(rank)))

    old_git = previous.get("git") or {}
    kept_figures = [
        # a figure of a report before per-run commits: its dirty flag is its report's
        {"git_dirty": old_git.get("dirty")} | f
        if "git_dirty" not in f and f.get("git_commit") == old_git.get("commit")
        else f
        for f in previous.get("figures", [])
        if f.get("benchmark") not in ran
    ]
    kept_benches = [b for b in previous.get("benchmarks", []) if b.get("name") not in ran]
    return fresh | {
        "figures": ordered(kept_figures + fresh["figures"], "benchmark"),
        "benchmarks": ordered(kept_benches + fresh["benchmarks"], "name"),
    }
