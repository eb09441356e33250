"""户籍 sync benchmark: records/s and peak memory, SOAP simulator → adapter → SQLite/PostgreSQL.

``python -m bench.adapters.hukou --persons 100000``

The simulator runs in its own process (as the district's service would), and so does each
measured sync, so that its memory is the adapter's and the engine's alone; the parent samples
the child's memory with psutil while it runs. Memory is PSS of the sync process plus its
mapping worker: a forked worker shares most pages with its parent, which RSS would count
twice. A run at a fifth of the size shows whether memory grows with the number of records
(pages and checkpoints are bounded; the value-type LRU caches grow until they are full).
The decoder comparison times extraction only (HTTP + parse, no mapping, no store), the part
the decoder changes.

Wall-clock rates on a shared machine move with its load, which is recorded; CPU time per
record (user + system, sync process and mapping worker) is the steadier figure.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import psutil

from bench.adapters import harness

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "hukou.json"
TARGET_RATE = 5_000  # records/s end to end into SQLite at 100,000 persons


# -- the measured child ------------------------------------------------------------------


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run inside the child process: one sync (or extraction) with its own clock and CPU."""
    import resource

    from pydantic import SecretStr

    from adapters.engine import sync_adapter
    from adapters.hukou import HukouConfig, create_adapter
    from canonical_model.store import make_engine, session_factory

    config = HukouConfig(
        wsdl_url=spec["wsdl_url"],
        username=spec["username"],
        password=SecretStr(spec["password"]),
        page_size=spec["page_size"],
        decoder=spec["decoder"],
        map_workers=spec["map_workers"],
    )
    adapter = create_adapter(config)
    me = psutil.Process()
    curve: list[tuple[int, float]] = []  # (records received, PSS MiB) at each checkpoint

    def progress(report: Any) -> None:
        curve.append((report.received, harness.memory_mb(me, "pss_tree")))

    before = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    if spec["mode"] == "extract":
        received = sum(1 for _ in adapter.stream("persons").extract({}))
        adapter.close()
        stored = 0
    else:
        sessions = session_factory(make_engine(spec["store_url"]))
        report = sync_adapter(
            adapter, sessions, checkpoint_every=spec["checkpoint"], progress=progress
        )[0]
        received, stored = report.received, report.stored
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    kids_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the mapping worker, reaped
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    worker_cpu = (kids_after.ru_utime - kids.ru_utime) + (kids_after.ru_stime - kids.ru_stime)
    return {
        "received": received,
        "stored": stored,
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "worker_cpu_s": worker_cpu,
        "maxrss_mb": after.ru_maxrss / 1024,  # Linux reports kB
        "mem_curve": curve,
    }


def _measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``_child`` in a fresh interpreter; its memory is PSS of it and its mapping worker."""
    result, peak = harness.run_child("bench.adapters.hukou", spec, "pss_tree")
    result["mem_peak_mb"] = peak
    curve = result.pop("mem_curve")
    # Memory after a fifth and after all of the records: equal if memory does not grow.
    for share, name in ((0.2, "mem_after_20pct_mb"), (1.0, "mem_after_100pct_mb")):
        reached = [rss for received, rss in curve if received >= share * result["received"]]
        if reached:
            result[name] = reached[0]
    result["rate"] = result["received"] / result["elapsed_s"]
    result["cpu_us_per_record"] = result["cpu_s"] / max(1, result["received"]) * 1e6
    result["worker_cpu_us_per_record"] = result["worker_cpu_s"] / max(1, result["received"]) * 1e6
    return result


# -- the run --------------------------------------------------------------------------------


def _store(backend: str) -> AbstractContextManager[str]:
    return harness.store(backend, "bench-hukou-")


def _figure(
    figure: str, unit: str, value: float, size: int, target: Any = None, **extra: Any
) -> dict[str, Any]:
    lower = isinstance(target, int | float) and unit != "records/s"
    return harness.figure(
        figure, unit, value, f"{size:,} persons", target, lower_is_better=lower, **extra
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    from simulators.hukou import HukouSimulator

    sizes = sorted({max(1, args.persons // 5), args.persons})
    backends = [b for b in args.backends.split(",") if b]
    figures: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    machine = harness.machine()
    for size in sizes:
        print(f"… generating a register of {size:,} persons", file=sys.stderr)
        with HukouSimulator(size, seed=args.seed, subprocess=True) as sim:
            base = {
                "wsdl_url": sim.wsdl_url,
                "username": sim.username,
                "password": sim.password,
                "page_size": args.page_size,
                "checkpoint": args.checkpoint,
                "map_workers": args.map_workers,
            }
            sim_proc = psutil.Process(sim.pid)
            for backend in backends:
                with _store(backend) as url:
                    sim_cpu = sum(sim_proc.cpu_times()[:2])
                    r = _measure({**base, "mode": "sync", "decoder": "lxml", "store_url": url})
                    r["simulator_cpu_us_per_record"] = (
                        (sum(sim_proc.cpu_times()[:2]) - sim_cpu) / size * 1e6
                    )
                runs.append({"backend": backend, "size": size, "decoder": "lxml", **r})
                print(f"  {backend:<10} {size:>7,}  {r['rate']:>7,.0f} rec/s", file=sys.stderr)
                label = "SQLite" if backend == "sqlite" else "PostgreSQL"
                target = TARGET_RATE if backend == "sqlite" and size == args.persons else None
                figures += [
                    _figure(f"sync rate into {label}", "records/s", r["rate"], size, target),
                    _figure(
                        f"CPU per record, {label} (sync process + mapping worker)",
                        "µs",
                        r["cpu_us_per_record"] + r["worker_cpu_us_per_record"],
                        size,
                        sync_process=round(r["cpu_us_per_record"], 1),
                        mapping_worker=round(r["worker_cpu_us_per_record"], 1),
                    ),
                    _figure(
                        f"CPU-bound ceiling, {label} (projection: 2 idle cores)",
                        "records/s",
                        1e6 / max(r["cpu_us_per_record"], r["worker_cpu_us_per_record"]),
                        size,
                        basis="1e6 / max(sync process, mapping worker) CPU µs per record",
                    ),
                    _figure(
                        f"peak memory (PSS), {label}",
                        "MiB",
                        r["mem_peak_mb"],
                        size,
                        pss_after_20pct_of_records=round(r.get("mem_after_20pct_mb", 0), 1),
                        pss_after_all_records=round(r.get("mem_after_100pct_mb", 0), 1),
                    ),
                ]
            if size == args.persons and args.map_workers and "sqlite" in backends:
                with _store("sqlite") as url:
                    spec = {**base, "mode": "sync", "decoder": "lxml", "store_url": url}
                    r = _measure({**spec, "map_workers": 0})
                runs.append({"backend": "sqlite-inline", "size": size, "decoder": "lxml", **r})
                print(f"  sqlite/inline {size:>7,}  {r['rate']:>7,.0f} rec/s", file=sys.stderr)
                figures += [
                    _figure("sync rate into SQLite, mapping inline", "records/s", r["rate"], size),
                    _figure(
                        "CPU per record, SQLite, mapping inline", "µs", r["cpu_us_per_record"], size
                    ),
                ]
            if size == args.persons and not args.skip_decoders:
                for decoder in ("lxml", "zeep"):
                    r = _measure({**base, "mode": "extract", "decoder": decoder, "map_workers": 0})
                    runs.append({"backend": None, "size": size, "decoder": decoder, **r})
                    print(f"  extract/{decoder:<5} {r['rate']:>7,.0f} rec/s", file=sys.stderr)
                    figures.append(
                        _figure(f"extract rate, {decoder} decoder", "records/s", r["rate"], size)
                    )
    machine["load_average_at_end"] = harness.load_average()
    small, large = sizes[0], sizes[-1]
    for backend in backends:
        peaks = {r["size"]: r["mem_peak_mb"] for r in runs if r["backend"] == backend}
        label = "SQLite" if backend == "sqlite" else "PostgreSQL"
        if small in peaks and large in peaks and small != large:
            figures.append(
                _figure(
                    f"memory growth {small:,} → {large:,}, {label}",
                    "MiB",
                    peaks[large] - peaks[small],
                    large,
                    "flat (no growth with records)",
                )
            )
    settings = {
        "page_size": args.page_size,
        "checkpoint_every": args.checkpoint,
        "seed": args.seed,
        "map_workers": args.map_workers,
    }
    return harness.result(
        "hukou SOAP sync (simulator → adapter → canonical store)",
        machine,
        settings,
        figures=figures,
        runs=runs,
    )


def markdown(result: dict[str, Any]) -> str:
    lines = harness.markdown_table(result["figures"])
    settings = result["settings"]
    lines.append("")
    lines.append(
        f"{harness.conditions(result['machine'])} Page size {settings['page_size']}, "
        f"checkpoint every {settings['checkpoint_every']}, mapping workers "
        f"{settings['map_workers']}."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.adapters.hukou", description=__doc__)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--checkpoint", type=int, default=500, help="records per transaction")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--map-workers", type=int, default=1, help="0 maps inline")
    parser.add_argument("--skip-decoders", action="store_true", help="no lxml/zeep comparison")
    return harness.cli(parser, argv, results=RESULTS, child=_child, run=run, markdown=markdown)


if __name__ == "__main__":
    sys.exit(main())
