"""The report as a Markdown table: figure | unit | gridhub | peer | target | met | size | run.

``run`` is a key into a second, small table: when the figure's benchmark ran, at which commit,
and the machine's calibration then, so a report merged from several runs (``--only``) says of
each figure where it comes from without widening every row.
"""

from __future__ import annotations

import string
from typing import Any

from bench.report.conditions import MIXED_LIMIT, apart


def number(value: float | None, unit: str | None = None) -> str:
    """Readable at a glance: thousands separated, a few significant digits, — for none;
    ratios (F1, precision) to four places, where the tools differ."""
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value:.4f}"
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1 or size == 0:
        return f"{value:.2f}"
    return f"{value:.2g}"


def verdict(met: bool | None, at_target_size: bool) -> str:
    if met is None:
        return "—"
    word = "yes" if met else "**no**"
    return word if at_target_size else f"({word})"


def _cell(text: Any) -> str:
    return "—" if text in (None, "") else str(text).replace("|", "\\|")


def _key(index: int) -> str:
    """a … z, then aa, ab, …: short enough for a column, enough for any report."""
    letters = string.ascii_lowercase
    return letters[index] if index < 26 else _key(index // 26 - 1) + letters[index % 26]


def _run_of(f: dict[str, Any], report: dict[str, Any]) -> tuple[Any, ...]:
    """What tells one benchmark run from another. Figures of reports before per-run commits
    take the report's dirty flag when their commit is the report's."""
    git = report.get("git") or {}
    dirty = f.get("git_dirty")
    if dirty is None and f.get("git_commit") and f.get("git_commit") == git.get("commit"):
        dirty = git.get("dirty")
    return (f.get("benchmark"), f.get("date"), f.get("git_commit"), dirty,
            f.get("calibration_cpu_s"))  # fmt: skip


def run_keys(report: dict[str, Any]) -> dict[tuple[Any, ...], str]:
    """Each run's key, in the order its figures first appear."""
    keys: dict[tuple[Any, ...], str] = {}
    for f in report["figures"]:
        keys.setdefault(_run_of(f, report), _key(len(keys)))
    return keys


def _commit(commit: str | None, dirty: bool | None) -> str:
    return "unknown" if not commit else commit[:10] + (" + uncommitted changes" if dirty else "")


def calibration_text(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.2f} s"


def runs(report: dict[str, Any]) -> list[str]:
    """The runs the figures come from: date, commit, calibration, one row per key."""
    lines = [
        "| run | benchmark | started (UTC) | commit | calibration |",
        "| --- | --- | --- | --- | ---: |",
    ]
    for (bench, date, commit, dirty, calibration), key in run_keys(report).items():
        when = "—" if not date else str(date)[:16].replace("T", " ")
        lines.append(
            f"| {key} | {_cell(bench)} | {when} | {_commit(commit, dirty)} "
            f"| {calibration_text(calibration)} |"
        )
    return lines


def rows(report: dict[str, Any]) -> list[str]:
    lines = [
        "| figure | unit | gridhub | peer | target | met | size | run |",
        "| --- | --- | ---: | --- | --- | --- | --- | --- |",
    ]
    keys = run_keys(report)
    for f in report["figures"]:
        peer = f.get("peer")
        peer_text = "—" if not peer else f"{peer['name']}: {number(peer['value'], f['unit'])}"
        gridhub = number(f["gridhub"], f["unit"])
        if f["gridhub"] is None and f.get("missing"):
            gridhub = "not measured"
        lines.append(
            f"| {_cell(f['name'])} | {_cell(f['unit'])} | {gridhub} | {_cell(peer_text)} "
            f"| {_cell(f['target'])} | {verdict(f['met'], f.get('at_target_size', False))} "
            f"| {_cell(f['data_size'])} | {keys[_run_of(f, report)]} |"
        )
    return lines


def load_range(report: dict[str, Any]) -> list[float]:
    """The 1-minute load averages seen at each benchmark's start and end."""
    return [
        b[key][0]
        for b in report.get("benchmarks", [])
        for key in ("load_average_at_start", "load_average_at_end")
        if b.get(key)
    ]


def conditions(report: dict[str, Any]) -> list[str]:
    """Under what the figures were measured, in words under the table."""
    m = report["machine"]
    git = report.get("git") or {}
    stamped = [_run_of(f, report) for f in report["figures"] if f.get("git_commit")]
    if not stamped:
        commit = _commit(git.get("commit"), git.get("dirty"))
    elif len({(c, d) for _, _, c, d, _ in stamped}) == 1:
        commit = _commit(stamped[0][2], stamped[0][3])
    else:
        commit = "several, per run above"
    loads = load_range(report)
    start, end = report.get("load_average_at_start"), report.get("load_average_at_end")
    if loads:
        load = f"between {min(loads)} and {max(loads)} at the starts and ends of the benchmarks"
    elif start and end:
        load = f"{start[0]} at start, {end[0]} at end"
    else:
        load = "unknown"
    dates = sorted({f["date"][:16] for f in report["figures"] if f.get("date")})
    when = report["date"] if len(dates) < 2 else f"from {dates[0]} to {dates[-1]}"
    lines = [
        f"Measured {when} on {m['cores']} cores ({m['cpu_model']}), "
        f"{m['ram_gib']} GiB RAM; load average (1 min) {load}; commit {commit}; "
        f"mode **{report['mode']}**.",
    ]
    lines += calibration_lines(report)
    if report["mode"] != "full":
        lines.append(
            "Quick mode runs small sizes to show the benchmarks work: the targets are set for "
            "the full sizes, so verdicts in parentheses are indicative only."
        )
    failed = [b for b in report["benchmarks"] if b.get("status") not in ("ok", None)]
    for b in failed:
        lines.append(f"Not measured: {b['name']} ({b.get('status')}).")
    return lines


def calibration_lines(report: dict[str, Any]) -> list[str]:
    """What the calibration column means, and a warning when the runs' speeds differ."""
    known = [c for *_, c in run_keys(report) if isinstance(c, int | float)]
    unknown = len(run_keys(report)) - len(known)
    line = (
        "Calibration: CPU seconds of a 10M-iteration Python loop (best of 5), taken by the "
        "runner just before each benchmark; machines of one type were seen to differ ~1.7x."
    )
    if unknown:
        line += f" Unknown for {unknown} run(s) recorded before runs were calibrated."
    lines = [line]
    if known and apart(min(known), max(known)) > MIXED_LIMIT:
        lines.append(
            f"**The calibrations differ by more than {MIXED_LIMIT:.0%} "
            f"({min(known):.2f}–{max(known):.2f} s): these figures come from machines (or loads) "
            "of different speed; compare figures of runs with similar calibrations only.**"
        )
    return lines


def markdown(report: dict[str, Any]) -> str:
    return "\n".join([*rows(report), "", *runs(report), "", *conditions(report)]) + "\n"


def timings(report: dict[str, Any]) -> str:
    """Per benchmark: how long it ran and what it cost, for budgeting a run."""
    lines = [
        "| benchmark | status | wall s | CPU s | peak RSS MiB | load start → end | calibration |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for b in report["benchmarks"]:
        start, end = b.get("load_average_at_start"), b.get("load_average_at_end")
        load = "—" if not start or not end else f"{start[0]} → {end[0]}"
        lines.append(
            f"| {b['name']} | {b.get('status')} | {number(b.get('seconds'))} "
            f"| {number(b.get('cpu_seconds'))} | {number(b.get('peak_rss_mb'))} | {load} "
            f"| {calibration_text(b.get('calibration_cpu_s'))} |"
        )
    return "\n".join(lines) + "\n"
