"""Health (FHIR R4) sync benchmark: resources/s and peak memory, simulator → adapter → store.

``python -m bench.adapters.health --patients 10000``

The FHIR simulator runs in its own process (as the district's platform would), and so does
each measured sync, so that its memory is the adapter's and the engine's alone; the parent
samples it (PSS of the sync process and its mapping worker) while it runs. A run at a fifth
of the size shows whether memory grows with the number of resources. ``--profile`` adds a
cProfile run (CPU time) and reports where the sync process spends it: FHIR validation,
mapping, the engine (hashing, SQL, JSON) and HTTP.

Wall-clock rates on a shared machine move with its load, which is recorded; CPU time per
resource is the steadier figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.adapters import harness

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "health.json"
TARGET_RATE = 2_000  # FHIR resources/s end to end into SQLite
#: Where a sync process spends CPU: (bucket, functions whose cumulative time counts for it).
_BUCKETS = {
    "FHIR validation (fhir.resources)": ("adapters/health/mapping.py:validate",),
    "mapping (person_fields, value types)": (
        "adapters/health/mapping.py:map_patient",
        "adapters/health/mapping.py:map_encounter",
        "adapters/health/mapping.py:map_observation",
    ),
    "engine: checkpoint transaction (SQL, audit)": ("adapters/engine/sync.py:_commit_checkpoint",),
    "engine: hashing received records": ("adapters/engine/encoding.py:raw_bytes",),
    "HTTP and JSON decoding": ("adapters/health/client.py:get_json",),
}


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """Inside the child process: one sync of every stream, with its own clock and CPU."""
    import resource

    from adapters.engine import sync_adapter
    from adapters.health import HealthConfig, create_adapter
    from canonical_model.store import make_engine, session_factory

    config = HealthConfig(
        base_url=spec["base_url"],
        page_size=spec["page_size"],
        map_workers=spec["map_workers"],
        lookback_s=0,
    )
    adapter = create_adapter(config)
    sessions = session_factory(make_engine(spec["store_url"]))
    profiler = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
    before = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    reports = sync_adapter(adapter, sessions, checkpoint_every=spec["checkpoint"])
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    kids_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the mapping worker, reaped
    result: dict[str, Any] = {
        "received": sum(r.received for r in reports),
        "stored": sum(r.stored for r in reports),
        "quarantined": sum(r.quarantined for r in reports),
        "elapsed_s": elapsed,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "worker_cpu_s": (kids_after.ru_utime - kids.ru_utime)
        + (kids_after.ru_stime - kids.ru_stime),
    }
    if profiler is not None:
        import pstats

        profiler.disable()
        stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
        total = max(1e-9, result["cpu_s"])
        shares: dict[str, float] = {}
        for bucket, names in _BUCKETS.items():
            cum = 0.0
            for (path, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.items():
                if any(path.endswith(n.split(":")[0]) and func == n.split(":")[1] for n in names):
                    cum += ct
            shares[bucket] = round(100 * cum / total, 1)
        result["cpu_share_pct"] = shares
    return result


def _measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``_child`` in a fresh interpreter; its memory is PSS of it and its mapping worker."""
    result, peak = harness.run_child("bench.adapters.health", spec, "pss_tree")
    result["mem_peak_mb"] = peak
    result["rate"] = result["received"] / result["elapsed_s"]
    result["cpu_rate"] = result["received"] / max(1e-9, result["cpu_s"] + result["worker_cpu_s"])
    result["cpu_us"] = result["cpu_s"] / max(1, result["received"]) * 1e6
    result["worker_cpu_us"] = result["worker_cpu_s"] / max(1, result["received"]) * 1e6
    return result


def _store(folder: str) -> str:
    return harness.migrated(f"sqlite:///{folder}/gridhub-{time.monotonic_ns()}.db")


_figure = harness.figure


def run(args: argparse.Namespace) -> dict[str, Any]:
    from simulators.health import HealthSimulator

    machine = harness.machine(calibrate=True)
    figures: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    peaks: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-health-") as folder:
        for size in sorted({max(1, args.patients // 5), args.patients}):
            print(f"… a FHIR server with {size:,} patients", file=sys.stderr)
            with HealthSimulator(size, seed=args.seed, subprocess=True) as sim:
                counts = sim.stats()["counts"]
                total = sum(counts.values())
                label = f"{total:,} resources ({size:,} patients)"
                base = {
                    "base_url": sim.base_url,
                    "page_size": args.page_size,
                    "checkpoint": args.checkpoint,
                }
                variants = [args.map_workers]
                if size == args.patients and args.map_workers:
                    variants.append(0)
                for workers in variants:
                    spec = {**base, "map_workers": workers, "store_url": _store(folder)}
                    r = _measure(spec)
                    runs.append({"size": size, "resources": total, "map_workers": workers, **r})
                    how = f"{workers} mapping worker" if workers else "mapping inline"
                    print(f"  {how:<18} {r['rate']:>7,.0f} resources/s", file=sys.stderr)
                    target = TARGET_RATE if size == args.patients and workers else None
                    figures += [
                        _figure(f"sync rate into SQLite, {how}", "resources/s", r["rate"],
                                label, target),
                        _figure(f"resources per CPU second, {how}", "resources/s",
                                r["cpu_rate"], label, sync_process_us=round(r["cpu_us"], 1),
                                mapping_worker_us=round(r["worker_cpu_us"], 1)),
                    ]  # fmt: skip
                    if workers == args.map_workers:
                        peaks[total] = r["mem_peak_mb"]
                        figures.append(
                            _figure("peak memory (PSS, sync + worker)", "MiB",
                                    r["mem_peak_mb"], label)
                        )  # fmt: skip
                if args.profile and size == args.patients:
                    spec = {**base, "map_workers": 0, "store_url": _store(folder), "profile": 1}
                    r = _measure(spec)
                    runs.append({"size": size, "profile": True, **r})
                    for bucket, share in r["cpu_share_pct"].items():
                        figures.append(
                            _figure(f"CPU share (inline, profiled): {bucket}", "%", share, label)
                        )
    machine["load_average_at_end"] = harness.load_average()
    if len(peaks) == 2:
        (small, p_small), (large, p_large) = sorted(peaks.items())
        figures.append(
            _figure(f"memory growth {small:,} → {large:,} resources", "MiB", p_large - p_small,
                    f"{large:,} resources", "flat (no growth with resources)")
        )  # fmt: skip
    settings = {
        "page_size": args.page_size,
        "checkpoint_every": args.checkpoint,
        "seed": args.seed,
        "map_workers": args.map_workers,
    }
    return harness.result(
        "health FHIR R4 sync (simulator → adapter → SQLite canonical store)",
        machine,
        settings,
        figures=figures,
        runs=runs,
    )


def markdown(result: dict[str, Any]) -> str:
    lines = harness.markdown_table(result["figures"])
    settings = result["settings"]
    lines += [
        "",
        f"{harness.conditions(result['machine'])} Page size {settings['page_size']}, "
        f"checkpoint every {settings['checkpoint_every']}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.adapters.health", description=__doc__)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--checkpoint", type=int, default=500, help="records per transaction")
    parser.add_argument("--map-workers", type=int, default=1, help="0 maps inline")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="add a profiled inline run")
    return harness.cli(parser, argv, results=RESULTS, child=_child, run=run, markdown=markdown)


if __name__ == "__main__":
    sys.exit(main())
