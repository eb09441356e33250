"""The results file and the Markdown table, from one benchmark run."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for package in ("numpy", "pandas", "jellyfish", "splink", "duckdb"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.platform(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "versions": versions,
    }


def figures(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (dataset, figure): gridhub, splink, target and whether it is met."""
    out = []
    by_set: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_set.setdefault(row["dataset"], {})[row["tool"]] = row
    for dataset, tools in by_set.items():
        g, s = tools.get("gridhub"), tools.get("splink")
        if g is None:
            continue
        for figure, unit, better in (
            ("pairwise_precision", "ratio", "higher"),
            ("pairwise_recall", "ratio", "higher"),
            ("pairwise_f1", "ratio", "higher"),
            ("cluster_pairwise_f1", "ratio", "higher"),
            ("wall_time", "s", "lower"),
        ):
            gv, sv = g.get(figure), None if s is None else s.get(figure)
            entry = {
                "dataset": dataset,
                "figure": figure,
                "unit": unit,
                "gridhub": gv,
                "splink": sv,
                "target": f"gridhub {'>=' if better == 'higher' else '<='} splink",
                "data_size": g["data_size"],
            }
            if gv is not None and sv is not None:
                entry["met"] = gv >= sv if better == "higher" else gv <= sv
            out.append(entry)
    return out


def write(path: Path | None, rows: list[dict[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
    """The results document; written to ``path`` unless it is None (a quick run)."""
    doc = {
        "benchmark": "identity resolution (FEBRL3 dedupe, FEBRL4 link)",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "figures": figures(rows),
        "runs": rows,
        **extra,
    }
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return doc


def markdown(rows: list[dict[str, Any]]) -> str:
    def fmt(value: Any, digits: int = 4) -> str:
        return "—" if value is None else f"{value:.{digits}f}"

    lines = [
        "| dataset | tool | precision | recall | F1 | cluster F1 | time (s, median) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} ({r['data_size']}) | {r['tool']} | "
            f"{fmt(r['pairwise_precision'])} | {fmt(r['pairwise_recall'])} | "
            f"{fmt(r['pairwise_f1'])} | {fmt(r.get('cluster_pairwise_f1'))} | "
            f"{fmt(r['wall_time'], 2)} |"
        )
    return "\n".join(lines)
