"""Scores and the Markdown table of ``bench.resolution.district``: pairwise and B-cubed,
over all records and over resolvable ones, with the load each figure was measured under."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

from bench.resolution.metrics import Scores, bcubed, canonical, pairs_from_labels, score

__all__ = ["markdown", "pairwise", "row"]


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise(pred: Sequence[Hashable], true: Sequence[Hashable]) -> Scores:
    """Pairwise scores of two labellings of the same records, counted per label pair
    instead of listing every pair (the same figures as ``score(pairs_from_labels…)``,
    in memory linear in the records: a million persons have millions of true pairs)."""
    tp = sum(_pairs(n) for n in Counter(zip(pred, true, strict=True)).values())
    predicted = sum(_pairs(n) for n in Counter(pred).values())
    truth = sum(_pairs(n) for n in Counter(true).values())
    precision = tp / predicted if predicted else 1.0
    recall = tp / truth if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, predicted, truth, tp)


def _scores(labels: list[Any], truth: list[Any], mask: list[bool] | None) -> dict[str, Any]:
    idx = [i for i in range(len(truth)) if mask is None or mask[i]]
    pred = [labels[i] for i in idx]
    true = [truth[i] for i in idx]
    pw = pairwise(pred, true)
    b3 = bcubed(pred, true)
    return {
        "records": len(idx),
        "pairwise": {
            "precision": round(pw.precision, 6),
            "recall": round(pw.recall, 6),
            "f1": round(pw.f1, 6),
        },
        "bcubed": {
            "precision": round(b3.precision, 6),
            "recall": round(b3.recall, 6),
            "f1": round(b3.f1, 6),
        },
    }


def _pair_scores(
    pairs: list[tuple[int, int]], truth: list[Any], mask: list[bool]
) -> dict[str, Any]:
    keys = [str(i) for i in range(len(truth)) if mask[i]]
    true = pairs_from_labels(keys, [truth[i] for i in range(len(truth)) if mask[i]])
    found = canonical((str(a), str(b)) for a, b in pairs if mask[a] and mask[b])
    s = score(found, true)
    return {"precision": round(s.precision, 6), "recall": round(s.recall, 6), "f1": round(s.f1, 6)}


def row(
    size: int, tool: str, run: dict[str, Any], truth: list[Any], mask: list[bool]
) -> dict[str, Any]:
    """One tool at one size: scores, time, memory, load (and CPU time when measured)."""
    out: dict[str, Any] = {
        "persons": size,
        "tool": tool,
        "seconds": round(run["seconds"], 2),
        "peak_rss_mb": run["peak_rss_mb"],
        "load_average": run["load_average"],
        "all_records": _scores(run["labels"], truth, None),
        "resolvable": _scores(run["labels"], truth, mask),
    }
    if "pairs" in run:
        out["predicted_pairs_resolvable"] = _pair_scores(run["pairs"], truth, mask)
    for extra in (
        "cpu_seconds",
        "summary",
        "seconds_features",
        "em_sessions",
        "worker_peak_rss_mb",
    ):
        if extra in run:
            out[extra] = run[extra]
    return out


def markdown(rows: list[dict[str, Any]], incremental: list[dict[str, Any]]) -> str:
    lines = [
        "| persons | tool | records | pairwise P / R / F1 (resolvable) | B-cubed F1 (resolvable) "
        "| F1 all records | time (s) | peak RSS (MB) | load (1 min, before→after) |",
        "|---:|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        pw, b3 = r["resolvable"]["pairwise"], r["resolvable"]["bcubed"]
        la = r["load_average"]
        lines.append(
            f"| {r['persons']:,} | {r['tool']} | {r['all_records']['records']:,} | "
            f"{pw['precision']:.4f} / {pw['recall']:.4f} / {pw['f1']:.4f} | {b3['f1']:.4f} | "
            f"{r['all_records']['pairwise']['f1']:.4f} | {r['seconds']:.1f} | "
            f"{r['peak_rss_mb']:,.0f} | {la['before'][0]}→{la['after'][0]} |"
        )
    if incremental:
        lines += [
            "",
            "| persons indexed | records placed | match p50 / p99 (ms) | "
            "placement p50 / p99 (ms) | load (1 min) |",
            "|---:|---:|---|---|---|",
        ]
        for inc in incremental:
            lines.append(
                f"| {inc['persons_indexed']:,} | {inc['placed']} | {inc['match_ms']['p50']} / "
                f"{inc['match_ms']['p99']} | {inc['placement_ms']['p50']} / "
                f"{inc['placement_ms']['p99']} | {inc['load_average']['before'][0]}→"
                f"{inc['load_average']['after'][0]} |"
            )
    return "\n".join(lines)
