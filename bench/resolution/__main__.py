"""``python -m bench.resolution``: gridhub vs Splink on FEBRL3 and FEBRL4, side by side."""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.resolution import febrl, report, run_gridhub
from bench.resolution.metrics import score

RESULTS = Path(__file__).resolve().parent.parent / "results" / "resolution.json"
ABLATION = Path(__file__).resolve().parent / "febrl_splink_columns.yaml"


def _row(
    dataset: febrl.Dataset, tool: str, pairs: Any, clusters: Any, times: list[float]
) -> dict[str, Any]:
    s = score(pairs, dataset.truth)
    c = None if clusters is None else score(clusters, dataset.truth)
    return {
        "dataset": dataset.name,
        "tool": tool,
        "data_size": dataset.size,
        "true_pairs": len(dataset.truth),
        "predicted_pairs": s.predicted,
        "pairwise_precision": round(s.precision, 6),
        "pairwise_recall": round(s.recall, 6),
        "pairwise_f1": round(s.f1, 6),
        "cluster_pairwise_f1": None if c is None else round(c.f1, 6),
        "wall_time": round(statistics.median(times), 3),
        "wall_time_runs": [round(t, 3) for t in times],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.resolution", description=__doc__)
    parser.add_argument("--datasets", default="febrl3,febrl4", help="comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per tool")
    parser.add_argument("--no-splink", action="store_true", help="gridhub only")
    parser.add_argument("--profile", default="febrl", help="gridhub profile for FEBRL")
    parser.add_argument(
        "--no-ablation", action="store_true", help="skip gridhub on Splink's columns only"
    )
    parser.add_argument("--synthetic", type=Path, help="cn_person CSV with a truth column")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    rows: list[dict[str, Any]] = []
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        dataset = febrl.load(name)
        g_times: list[float] = []
        s_times: list[float] = []
        g_run = s_run = None
        for attempt in range(args.repeat):
            # alternate who goes first, so neither always meets a warm or a cold machine
            order = ("gridhub", "splink") if attempt % 2 == 0 else ("splink", "gridhub")
            for tool in order:
                if tool == "gridhub":
                    g_run = run_gridhub.run(dataset, args.profile)
                    g_times.append(g_run.seconds)
                elif not args.no_splink:
                    from bench.resolution import run_splink

                    last = attempt == args.repeat - 1
                    s_run = run_splink.run(dataset, with_clusters=last)
                    s_times.append(s_run.seconds)
        assert g_run is not None
        rows.append(_row(dataset, "gridhub", g_run.pairs, g_run.cluster_pairs, g_times))
        if not args.no_ablation:
            a_run = run_gridhub.run(dataset, str(ABLATION))
            tool = "gridhub, Splink's columns only"
            rows.append(_row(dataset, tool, a_run.pairs, a_run.cluster_pairs, [a_run.seconds]))
        if s_run is not None:
            rows.append(_row(dataset, "splink", s_run.pairs, s_run.cluster_pairs, s_times))
        print(f"{name}: done", file=sys.stderr)

    extra: dict[str, Any] = {
        "notes": (
            "pairwise = pairs each tool predicts at match probability 0.5 (gridhub: the "
            "model's own matches, before guards and clustering); cluster F1 = pairs within "
            "the final clusters (Splink: cluster_pairwise_predictions_at_threshold 0.5), "
            "across files only for FEBRL4; wall time = median over runs, data already in "
            "memory, gridhub including clustering, Splink excluding it"
        )
    }
    if "febrl3" in args.datasets:
        extra["incremental_febrl3"] = run_gridhub.incremental_latency(febrl.load("febrl3"))
    if args.synthetic is not None:
        from bench.resolution.synthetic import evaluate_csv

        extra["synthetic"] = evaluate_csv(args.synthetic)
    report.write(args.out, rows, extra)
    print(report.markdown(rows))
    if "incremental_febrl3" in extra:
        inc = extra["incremental_febrl3"]
        print(
            f"\nincremental (gridhub only): {inc['queries']} records matched one at a time "
            f"against {inc['indexed_records']}: p50 {inc['p50_ms']} ms, p99 {inc['p99_ms']} ms"
        )
    if "synthetic" in extra:
        syn = extra["synthetic"]
        print(
            f"\nsynthetic district (gridhub only, cn_person): {syn['records']} records, "
            f"persons F1 {syn['clusters']['f1']:.4f}, pairs F1 {syn['pairs']['f1']:.4f}, "
            f"{syn['seconds']} s"
        )
    print(f"\nwritten: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
