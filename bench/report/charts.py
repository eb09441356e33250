"""Two PNG charts of the report: throughput and latency, each figure against its target.

The figures differ by orders of magnitude (200 requests/s beside 400,000 rows/s), so both
axes are logarithmic; each bar is labelled with its value and unit, the target is a black
triangle over the bar's row, and the bar's colour says whether the target is met. A peer
(Splink, zeep) is drawn as a second, thinner bar under gridhub's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from bench.report.table import load_range, number

MET, MISSED, NO_TARGET, PEER = "#2e7d32", "#c62828", "#78909c", "#b0bec5"
TO_MS = {"ms": 1.0, "s": 1000.0, "µs": 0.001}


def series(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The figures of one kind that have a value, in the units the chart plots."""
    out = []
    for f in report["figures"]:
        if f["kind"] != kind or f["gridhub"] is None or f["gridhub"] <= 0:
            continue
        scale = TO_MS.get(f["unit"], 1.0) if kind == "latency" else 1.0
        peer = f.get("peer") or {}
        bound = f.get("target_bound")
        out.append(
            {
                "label": f["name"],
                "value": f["gridhub"] * scale,
                "text": f"{number(f['gridhub'], f['unit'])} {f['unit']}",
                "peer_name": peer.get("name"),
                "peer": None if peer.get("value") is None else peer["value"] * scale,
                "peer_text": None
                if peer.get("value") is None
                else f"{peer['name']} {number(peer['value'], f['unit'])}",
                "target": None if bound is None else bound * scale,
                "met": f.get("met"),
            }
        )
    return out


def chart(report: dict[str, Any], kind: str, path: Path, title: str, axis: str) -> Path:
    data = series(report, kind)
    height = max(2.5, 0.55 * len(data) + 1.6)
    fig, ax = plt.subplots(figsize=(11, height), dpi=110)
    if not data:
        ax.text(0.5, 0.5, f"no {kind} figures in this run", ha="center", va="center")
        ax.set_axis_off()
    else:
        rows = list(range(len(data)))[::-1]
        for y, d in zip(rows, data, strict=True):
            colour = NO_TARGET if d["met"] is None else (MET if d["met"] else MISSED)
            offset = 0.12 if d["peer"] is not None else 0.0
            ax.barh(y + offset, d["value"], height=0.5 if not offset else 0.32, color=colour)
            ax.text(d["value"], y + offset, f" {d['text']}", va="center", fontsize=8)
            if d["peer"] is not None:
                ax.barh(y - 0.2, d["peer"], height=0.22, color=PEER)
                ax.text(d["peer"], y - 0.2, f" {d['peer_text']}", va="center", fontsize=7)
            if d["target"] is not None:  # above the bar, clear of the value's label
                ax.plot([d["target"]], [y + 0.32], marker="v", markersize=8, color="black")
        ax.set_yticks(rows, [d["label"] for d in data], fontsize=8)
        ax.set_xscale("log")
        values = [v for d in data for v in (d["value"], d["peer"], d["target"]) if v]
        ax.set_xlim(min(values) / 3, max(values) * 12)
        ax.set_xlabel(axis)
        ax.grid(axis="x", which="major", alpha=0.3)
    mode = report["mode"] + ("" if report["mode"] == "full" else " (small sizes)")
    loads = load_range(report) or (report.get("load_average_at_start") or ["?"])[:1]
    load = f"{min(loads)}–{max(loads)}" if len(loads) > 1 else str(loads[0])
    ax.set_title(
        f"{title} — {mode}, {report['date'][:10]}, {report['machine']['cores']} cores, "
        f"load {load}\n green: target met · red: missed · grey: no target · "
        "▼: target · pale bar: peer",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write(report: dict[str, Any], folder: Path) -> list[Path]:
    return [
        chart(
            report,
            "throughput",
            folder / "throughput.png",
            "gridhub throughput",
            "per second (log scale; unit beside each bar)",
        ),
        chart(
            report,
            "latency",
            folder / "latency.png",
            "gridhub latency and wall time",
            "milliseconds (log scale; value as measured beside each bar)",
        ),
    ]
