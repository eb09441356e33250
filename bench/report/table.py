"""The report as a Markdown table: figure | unit | gridhub | peer | target | met | size."""

from __future__ import annotations

from typing import Any


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


def rows(report: dict[str, Any]) -> list[str]:
    lines = [
        "| figure | unit | gridhub | peer | target | met | size |",
        "| --- | --- | ---: | --- | --- | --- | --- |",
    ]
    for f in report["figures"]:
        peer = f.get("peer")
        peer_text = "—" if not peer else f"{peer['name']}: {number(peer['value'], f['unit'])}"
        gridhub = number(f["gridhub"], f["unit"])
        if f["gridhub"] is None and f.get("missing"):
            gridhub = "not measured"
        lines.append(
            f"| {_cell(f['name'])} | {_cell(f['unit'])} | {gridhub} | {_cell(peer_text)} "
            f"| {_cell(f['target'])} | {verdict(f['met'], f.get('at_target_size', False))} "
            f"| {_cell(f['data_size'])} |"
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
    commit = (git.get("commit") or "unknown")[:10] + (
        " + uncommitted changes" if git.get("dirty") else ""
    )
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
    if report["mode"] != "full":
        lines.append(
            "Quick mode runs small sizes to show the benchmarks work: the targets are set for "
            "the full sizes, so verdicts in parentheses are indicative only."
        )
    failed = [b for b in report["benchmarks"] if b.get("status") not in ("ok", None)]
    for b in failed:
        lines.append(f"Not measured: {b['name']} ({b.get('status')}).")
    return lines


def markdown(report: dict[str, Any]) -> str:
    return "\n".join([*rows(report), "", *conditions(report)]) + "\n"


def timings(report: dict[str, Any]) -> str:
    """Per benchmark: how long it ran and what it cost, for budgeting a run."""
    lines = [
        "| benchmark | status | wall s | CPU s | peak RSS MiB | load start → end |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for b in report["benchmarks"]:
        start, end = b.get("load_average_at_start"), b.get("load_average_at_end")
        load = "—" if not start or not end else f"{start[0]} → {end[0]}"
        lines.append(
            f"| {b['name']} | {b.get('status')} | {number(b.get('seconds'))} "
            f"| {number(b.get('cpu_seconds'))} | {number(b.get('peak_rss_mb'))} | {load} |"
        )
    return "\n".join(lines) + "\n"
