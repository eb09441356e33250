"""``python -m bench`` (``make bench``): every benchmark, one report.

    python -m bench                 # full sizes: the figures the issues set targets for
    python -m bench --quick         # small sizes, minutes: shows every benchmark still works
    python -m bench --only hukou api
    python -m bench --list          # what runs, which figures count, targets and peers
    python -m bench --update-readme # README table from bench/results/latest.json, no run
    python -m bench --rebuild       # latest.* again from the last run's saved outputs

Writes ``latest.json``, ``latest.md``, ``throughput.png`` and ``latency.png`` to
``bench/results/`` (``--results-dir``); each benchmark's own output and log stay under
``var/bench/report/<mode>/``. A full run of every benchmark also rewrites the README table.
With ``--only``, the other benchmarks' figures are kept from the previous report of the
same mode, each with its own date, load, commit and calibration, but only if their
calibration is within 25 % of this run's (``--allow-mixed-machines`` keeps them anyway):
machines of one type were seen to run Python ~1.7x apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import assemble, charts, conditions, readme, registry, runner, table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "var" / "bench" / "report"
README = ROOT / "README.md"


def _say(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def describe() -> str:
    lines = []
    for b in registry.BENCHMARKS:
        how = b.call or f"python -m {b.module} {' '.join(b.full)}".rstrip()
        lines.append(
            f"{b.name} (issue {b.issue}): {b.summary}\n  full: {how}\n"
            f"  full run ~{b.full_estimate_s / 60:.0f} min on an idle machine, "
            f"ended after {b.full_timeout_s / 60:.0f} min"
        )
        for f in b.figures:
            target = (
                ""
                if f.target is None
                else f"  target {f.target.describe(None if f.peer is None else f.peer.name)}"
            )
            peer = "" if f.peer is None else f"  peer {f.peer.name}"
            lines.append(f"  - {f.name} [{f.unit}, {f.kind}]{target}{peer}")
    lines.append(budget(registry.BENCHMARKS))
    return "\n".join(lines)


def budget(benches: tuple[registry.Benchmark, ...] | list[registry.Benchmark]) -> str:
    """What a full run of ``benches`` costs: expected, and at most (every one at its limit)."""
    expected = sum(b.full_estimate_s for b in benches) / 60
    bound = sum(b.full_timeout_s for b in benches) / 3600
    return (
        f"full run of {len(benches)} benchmarks: ~{expected:.0f} min on an idle 2-core machine "
        f"(more under load); never more than {bound:.1f} h (each ended at its limit)"
    )


def write(report: dict[str, Any], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    latest = folder / "latest.json"
    latest.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    md = folder / "latest.md"
    md.write_text(
        "# gridhub benchmarks\n\n" + table.markdown(report) + "\n## Cost of each benchmark\n\n"
        + table.timings(report),
        encoding="utf-8",
    )  # fmt: skip
    return [latest, md, *charts.write(report, folder)]


def rebuild(previous: dict[str, Any], work: Path) -> dict[str, Any]:
    """The report of the last run again, from the outputs it saved, under today's registry
    (a figure renamed or a target corrected needs no new run)."""
    mode = previous["mode"]
    runs = []
    for summary in previous["benchmarks"]:
        if summary.get("status") == "not run":
            continue
        fields = {k: v for k, v in summary.items() if k in runner.BenchRun.__dataclass_fields__}
        run = runner.BenchRun(**fields)
        own = [f for f in previous["figures"] if f.get("benchmark") == run.name]
        if run.date is None:  # a report written before runs carried their date
            run.date = own[0].get("date") if own else None
        if run.git_commit is None and own:  # ... or their commit (a merge kept the figure's)
            run.git_commit = own[0].get("git_commit")
        if run.status == "ok":
            run.output = json.loads((work / mode / f"{run.name}.json").read_text("utf-8"))
        runs.append(run)
    benches = registry.select([r.name for r in runs])
    started = datetime.fromisoformat(previous["date"])
    return assemble.build(benches, runs, mode, started=started, commit=previous["git"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    parser.add_argument("--list", action="store_true", help="list benchmarks and figures")
    parser.add_argument(
        "--update-readme", action="store_true", help="rewrite the README table from latest.json"
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="re-read the last run's outputs, run nothing"
    )
    parser.add_argument(
        "--allow-mixed-machines",
        action="store_true",
        help="with --only, keep older figures even if their calibration is >25%% off this run's",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--work-dir", type=Path, default=WORK, help="benchmark outputs and logs")
    parser.add_argument("--readme", type=Path, default=README, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.list:
        print(describe())
        return 0
    latest = args.results_dir / "latest.json"
    if args.update_readme:
        if not latest.exists():
            parser.error(f"{latest} does not exist: run the benchmarks first")
        changed = readme.update(args.readme, json.loads(latest.read_text(encoding="utf-8")))
        _say(f"{args.readme}: {'rewritten' if changed else 'already current'}")
        return 0
    if args.rebuild:
        if not latest.exists():
            parser.error(f"{latest} does not exist: run the benchmarks first")
        report = rebuild(json.loads(latest.read_text(encoding="utf-8")), args.work_dir)
        for path in write(report, args.results_dir):
            _say(f"written: {path}")
        print(table.markdown(report))
        return 0
    try:
        benches = registry.select(args.only)
    except KeyError as exc:
        parser.error(str(exc.args[0]))
    mode = "quick" if args.quick else "full"
    previous = json.loads(latest.read_text(encoding="utf-8")) if latest.exists() else None
    same_mode = previous is not None and previous.get("mode") == mode
    if args.only and previous is not None and same_mode and not args.allow_mixed_machines:
        now, _ = conditions.calibration()  # refuse before the run rather than after it
        reason = assemble.mixed_machines(previous, now, {b.name for b in benches})
        if reason is not None:
            print(f"python -m bench: {reason}", file=sys.stderr)
            return 2
    if mode == "full":
        _say(budget(benches))
    started = datetime.now(UTC)
    runs = runner.run_all(benches, mode, args.work_dir / mode, progress=_say)
    report = assemble.build(benches, runs, mode, started=started)
    if args.only:
        try:
            report = assemble.merge(
                previous, report, registry.names(), allow_mixed=args.allow_mixed_machines
            )
        except assemble.MixedMachines as exc:  # the machine's speed changed during the run
            print(f"python -m bench: {exc}", file=sys.stderr)
            kept = args.work_dir / mode / "unmerged.json"
            kept.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")
            _say(f"{latest} left as it was; this run's report alone: {kept}")
            return 2
    for path in write(report, args.results_dir):
        _say(f"written: {path}")
    if mode == "full" and not args.only and args.readme.exists():
        readme.update(args.readme, report)
        _say(f"README table rewritten: {args.readme}")
    print(table.markdown(report))
    print(table.timings(report))
    return 0 if all(r.status == "ok" for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
