"""Utility meter-file benchmark: rows/s parsed and stored into SQLite, and peak memory.

``python -m bench.adapters.utility --households 20000 --days 8``

The companies' drop (water and gas as GB18030 CSV, power as XML, one row per account per
day) is written into an inbox first; each measured load then runs in its own process, so
its memory is the loader's alone (the parent samples its PSS). Three situations:

* **first load** — one day, every account new: each account becomes a source record
  (mapping, hashing), so this is bounded by the SourceRecord path, not by readings;
* **daily** — the next day in a new run: every account is looked up once in the store,
  found unchanged, and only readings are written;
* **backlog** — several days in one run (a week of files after an outage): accounts
  known after their first file, readings all the way. Run at two sizes, it also shows
  whether memory grows with the input.

Parse rates per format (no store) come from ``parse_file`` alone. Wall-clock rates on a
shared machine move with its load, which is recorded; rows per CPU second is steadier.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.adapters import harness

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "utility.json"
TARGET_RATE = 100_000  # rows/s parsed and stored into SQLite


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """Inside the child process: one load of everything in the inbox."""
    import resource

    from adapters.engine import sync_adapter
    from adapters.utility import UtilityAdapter, UtilityConfig, create_adapter
    from canonical_model.store import make_engine, session_factory

    root = Path(spec["root"])
    config = UtilityConfig(
        inbox=root / "inbox",
        archive=root / "archive",
        rejected=root / "rejected",
        rows_per_checkpoint=spec["rows_per_checkpoint"],
        parse_workers=spec.get("parse_workers", 1),
        manifest_grace_s=0,
    )
    adapter = create_adapter(config)
    assert isinstance(adapter, UtilityAdapter)
    sessions = session_factory(make_engine(spec["store_url"]))
    before = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    report = sync_adapter(adapter, sessions, checkpoint_every=spec["checkpoint"])[0]
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    kids_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the parse worker, reaped
    return {
        "worker_cpu_s": (kids_after.ru_utime - kids.ru_utime)
        + (kids_after.ru_stime - kids.ru_stime),
        "rows": adapter.accounts.stats["readings"],
        "files": adapter.accounts.stats["files"],
        "records": report.received,
        "accounts_stored": report.stored,
        "elapsed_s": elapsed,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        **{f"parse_{k}": v for k, v in adapter.accounts.ahead.stats.items()},
    }


def _measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``_child`` in a fresh interpreter; its memory is the loader's PSS."""
    result, peak = harness.run_child("bench.adapters.utility", spec, "pss")
    result["mem_peak_mb"] = peak
    result["rate"] = result["rows"] / result["elapsed_s"]
    result["cpu_rate"] = result["rows"] / max(1e-9, result["cpu_s"] + result["worker_cpu_s"])
    result["loader_cpu_rate"] = result["rows"] / max(1e-9, result["cpu_s"])
    # Cores busy on average: loader and parse worker CPU over the sync's wall time (at most
    # 2 here; a loaded machine lowers it, so the load average goes with it).
    result["cores"] = (result["cpu_s"] + result["worker_cpu_s"]) / result["elapsed_s"]
    result["load_average"] = harness.load_average()
    return result


def _parse_rates(inbox: Path) -> dict[str, float]:
    """Rows per CPU second of ``parse_file`` alone (checksum, decode, parse, spool), by format."""
    from adapters.utility.parsing import parse_file

    rates: dict[str, float] = {}
    for fmt in ("csv", "xml"):
        path = next(iter(sorted(inbox.glob(f"*.{fmt}"))), None)
        if path is None:
            continue
        manifest = json.loads(path.with_name(path.name + ".manifest.json").read_text())
        started = time.process_time()
        spool = parse_file(
            path,
            fmt=fmt,
            encoding=manifest["encoding"].lower(),
            sha256=manifest["sha256"],
            rows=manifest["rows"],
            chunk=20_000,
        )
        rates[fmt] = manifest["rows"] / max(1e-9, time.process_time() - started)
        spool.close()
    return rates


_figure = harness.figure


def run(args: argparse.Namespace) -> dict[str, Any]:
    from simulators.utility import UtilityDrop

    machine = harness.machine(calibrate=True)
    figures: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    peaks: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-utility-") as folder:
        root = Path(folder)
        url = harness.migrated(f"sqlite:///{root / 'gridhub.db'}")
        print(f"… accounts of {args.households:,} flats", file=sys.stderr)
        drop = UtilityDrop(root / "inbox", args.households, seed=args.seed)
        day = drop.as_of - timedelta(days=2 * args.days + args.small_days + 2)
        spec = {"root": folder, "store_url": url, "checkpoint": args.checkpoint,
                "rows_per_checkpoint": args.rows_per_checkpoint}  # fmt: skip

        def load(name: str, days: int, first: date, workers: int = 1) -> dict[str, Any]:
            started = time.perf_counter()
            drop.write_days(first + timedelta(days=days - 1), days)
            written = time.perf_counter() - started
            if name == "first load":
                parse = _parse_rates(root / "inbox")
                for fmt, rate in parse.items():
                    figures.append(_figure(f"parse only ({fmt.upper()})", "rows/CPU s", rate,
                                           "one day's file"))  # fmt: skip
            r = _measure({**spec, "parse_workers": workers})
            r["write_s"] = written
            runs.append({"situation": name, "days": days, **r})
            print(f"  {name:<12} {r['rows']:>9,} rows  {r['rate']:>9,.0f} rows/s", file=sys.stderr)
            return r

        sizes = {}
        r = load("first load", 1, day)
        sizes["first load"] = r
        r = load("daily", 1, day + timedelta(days=1))
        sizes["daily"] = r
        small = load("backlog", args.small_days, day + timedelta(days=2))
        large = load("backlog", args.days, day + timedelta(days=2 + args.small_days))
        after = day + timedelta(days=2 + args.small_days + args.days)
        inline = load("backlog, parsed inline", args.days, after, workers=0)
        for name, res in (("first load", sizes["first load"]), ("daily", sizes["daily"]),
                          ("backlog", small), ("backlog", large),
                          ("backlog, parsed inline", inline)):  # fmt: skip
            label = f"{res['rows']:,} rows ({res['files']} files)"
            target = TARGET_RATE if res is large else None
            figures += [
                _figure(f"{name}: rows parsed and stored", "rows/s", res["rate"], label, target),
                _figure(
                    f"{name}: rows per CPU second (loader + parse worker)",
                    "rows/CPU s",
                    res["cpu_rate"],
                    label,
                    loader_only=round(res["loader_cpu_rate"], 1),
                ),
                _figure(
                    f"{name}: cores used (CPU s / wall s, loader + parse worker)",
                    "cores",
                    res["cores"],
                    label,
                    load_average=res["load_average"],
                    stolen=res["parse_stolen"],
                    waited_s=round(res["parse_waited_s"], 2),
                ),
                _figure(f"{name}: peak memory (PSS)", "MiB", res["mem_peak_mb"], label),
            ]
            if name == "first load":
                figures.append(_figure("first load: accounts stored as source records",
                                       "records/s", res["accounts_stored"] / res["elapsed_s"],
                                       label))  # fmt: skip
        peaks = {small["rows"]: small["mem_peak_mb"], large["rows"]: large["mem_peak_mb"]}
    machine["load_average_at_end"] = harness.load_average()
    (n_small, p_small), (n_large, p_large) = sorted(peaks.items())
    figures.append(
        _figure(f"memory growth {n_small:,} → {n_large:,} rows", "MiB", p_large - p_small,
                f"{n_large:,} rows", "flat (no growth with rows)")
    )  # fmt: skip
    settings = {
        "households": args.households,
        "rows_per_checkpoint": args.rows_per_checkpoint,
        "checkpoint_every": args.checkpoint,
        "seed": args.seed,
        "formats": {"water": "csv (GB18030)", "power": "xml (UTF-8)", "gas": "csv (GB18030)"},
    }
    return harness.result(
        "utility meter files (inbox → adapter → SQLite: accounts + utility_reading)",
        machine,
        settings,
        figures=figures,
        runs=runs,
    )


def markdown(result: dict[str, Any]) -> str:
    lines = harness.markdown_table(result["figures"])
    s = result["settings"]
    lines += [
        "",
        f"{harness.conditions(result['machine'])} {s['households']:,} flats, "
        f"{s['rows_per_checkpoint']:,} readings per checkpoint.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.adapters.utility", description=__doc__)
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=8, help="the large backlog")
    parser.add_argument("--small-days", type=int, default=2, help="the small backlog")
    parser.add_argument("--rows-per-checkpoint", type=int, default=20_000)
    parser.add_argument("--checkpoint", type=int, default=500, help="records per transaction")
    parser.add_argument("--seed", type=int, default=7)
    return harness.cli(parser, argv, results=RESULTS, child=_child, run=run, markdown=markdown)


if __name__ == "__main__":
    sys.exit(main())
