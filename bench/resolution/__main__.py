"""``python -m bench.resolution [febrl|district|all] [--quick] …``: identity resolution.

``febrl`` (the default, so the bare command keeps its old meaning): gridhub vs Splink on
FEBRL3 and FEBRL4, side by side, to ``bench/results/resolution.json``.  ``district``: the
master person index on the synthetic district (10k and 100k with Splink beside it, 1M
gridhub only, incremental latency), to ``bench/results/resolution_district.json``; see
``bench.resolution.district``.  ``--quick`` runs small sizes once and writes nothing
unless ``--out`` is given, so a smoke run never overwrites measured figures.
``run(quick)`` is what ``python -m bench`` calls: both benchmarks, their documents and a
flat list of headline figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.resolution import district, febrl, report, run_gridhub
from bench.resolution.metrics import score

__all__ = ["headline", "main", "run", "run_febrl"]

RESULTS = Path(__file__).resolve().parent.parent / "results" / "resolution.json"
ABLATION = Path(__file__).resolve().parent / "febrl_splink_columns.yaml"
COMMANDS = ("febrl", "district", "all")


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


def run_febrl(
    datasets: tuple[str, ...] = ("febrl3", "febrl4"),
    *,
    repeat: int = 3,
    splink: bool = True,
    profile: str = "febrl",
    ablation: bool = True,
    synthetic: Path | None = None,
    out: Path | None = RESULTS,
) -> dict[str, Any]:
    """FEBRL side by side; the results document (written to ``out`` unless None)."""
    rows: list[dict[str, Any]] = []
    for name in datasets:
        dataset = febrl.load(name)
        g_times: list[float] = []
        s_times: list[float] = []
        g_run = s_run = None
        for attempt in range(repeat):
            # alternate who goes first, so neither always meets a warm or a cold machine
            order = ("gridhub", "splink") if attempt % 2 == 0 else ("splink", "gridhub")
            for tool in order:
                if tool == "gridhub":
                    g_run = run_gridhub.run(dataset, profile)
                    g_times.append(g_run.seconds)
                elif splink:
                    from bench.resolution import run_splink

                    last = attempt == repeat - 1
                    s_run = run_splink.run(dataset, with_clusters=last)
                    s_times.append(s_run.seconds)
        assert g_run is not None
        rows.append(_row(dataset, "gridhub", g_run.pairs, g_run.cluster_pairs, g_times))
        if ablation:
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
    if "febrl3" in datasets:
        extra["incremental_febrl3"] = run_gridhub.incremental_latency(febrl.load("febrl3"))
    if synthetic is not None:
        from bench.resolution.synthetic import evaluate_csv

        extra["synthetic"] = evaluate_csv(synthetic)
    doc = report.write(out, rows, extra)
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
    if out is not None:
        print(f"\nwritten: {out}", file=sys.stderr)
    return doc


def headline(
    febrl_doc: dict[str, Any] | None, district_doc: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The figures worth a line each: (benchmark, tool, figure, value)."""
    out: list[dict[str, Any]] = []

    def add(bench: str, tool: str, figure: str, value: Any) -> None:
        out.append({"benchmark": bench, "tool": tool, "figure": figure, "value": value})

    for row in (febrl_doc or {}).get("runs", []):
        for figure in ("pairwise_f1", "cluster_pairwise_f1", "wall_time"):
            add(row["dataset"], row["tool"], figure, row[figure])
    for row in (district_doc or {}).get("runs", []):
        bench = f"district {row['persons']:,}"
        resolvable = row["resolvable"]
        add(bench, row["tool"], "pairwise_f1_resolvable", resolvable["pairwise"]["f1"])
        add(bench, row["tool"], "bcubed_f1_resolvable", resolvable["bcubed"]["f1"])
        add(bench, row["tool"], "seconds", row["seconds"])
        add(bench, row["tool"], "peak_rss_mb", row["peak_rss_mb"])
    for inc in (district_doc or {}).get("incremental", []):
        bench = f"district {inc['persons']:,} incremental"
        for phase in ("match_ms", "placement_ms"):
            for q in ("p50", "p99"):
                add(bench, "gridhub (store)", f"{phase[:-3]}_{q}_ms", inc[phase][q])
    return out


def run(quick: bool) -> dict[str, Any]:
    """Both benchmarks; ``quick``: FEBRL once without the ablation, the district at 2,000
    persons, nothing written.  Full: the recorded runs (FEBRL ×3; district 10k, 100k with
    Splink, 1M gridhub only, incremental at each size), written to ``bench/results``."""
    if quick:
        febrl_doc = run_febrl(repeat=1, ablation=False, out=None)
        preset = district.QUICK
    else:
        febrl_doc = run_febrl()
        preset = district.FULL
    with district.work_dir(None, quick=quick) as work:
        district_doc = district.run_district(
            preset.sizes,
            splink=preset.splink,
            engine=preset.engine,
            holdout=preset.holdout,
            work=work,
            out=None if quick else district.RESULTS,
        )
    return {
        "quick": quick,
        "figures": headline(febrl_doc, district_doc),
        "febrl": febrl_doc,
        "district": district_doc,
    }


def _febrl_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.resolution [febrl]", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one run, no ablation, no file")
    parser.add_argument("--datasets", default="febrl3,febrl4", help="comma-separated")
    parser.add_argument("--repeat", type=int, help="timed runs per tool (3; quick: 1)")
    parser.add_argument("--no-splink", action="store_true", help="gridhub only")
    parser.add_argument("--profile", default="febrl", help="gridhub profile for FEBRL")
    parser.add_argument(
        "--no-ablation", action="store_true", help="skip gridhub on Splink's columns only"
    )
    parser.add_argument("--synthetic", type=Path, help="cn_person CSV with a truth column")
    parser.add_argument("--out", type=Path, help=f"results file (default {RESULTS})")
    args = parser.parse_args(argv)
    run_febrl(
        tuple(d.strip() for d in args.datasets.split(",") if d.strip()),
        repeat=args.repeat or (1 if args.quick else 3),
        splink=not args.no_splink,
        profile=args.profile,
        ablation=not (args.no_ablation or args.quick),
        synthetic=args.synthetic,
        out=args.out if args.out is not None else (None if args.quick else RESULTS),
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args and args[0] in COMMANDS else "febrl"
    if command == "febrl":
        return _febrl_main(args)
    if command == "district":
        parser = argparse.ArgumentParser(
            prog="python -m bench.resolution district", description=district.__doc__
        )
        district.add_arguments(parser)
        district.from_arguments(parser.parse_args(args))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.resolution all", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, nothing written")
    result = run(parser.parse_args(args).quick)
    for fig in result["figures"]:
        print(f"{fig['benchmark']:<28} {fig['tool']:<32} {fig['figure']:<26} {fig['value']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
