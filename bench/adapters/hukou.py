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
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

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
        curve.append((report.received, _memory_mb(me)))

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


def _memory_mb(process: psutil.Process) -> float:
    """Memory of a process and its children (the mapping worker), in MiB: PSS, so the pages
    a forked worker shares with its parent are counted once, not twice as RSS would."""
    total = 0
    for p in [process, *process.children(recursive=True)]:
        with suppress(psutil.Error):
            info = p.memory_full_info()
            total += getattr(info, "pss", info.rss)
    return total / 2**20


def _measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``_child`` in a fresh interpreter and sample its memory from outside."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.adapters.hukou", "--child", json.dumps(spec)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    watched = psutil.Process(proc.pid)
    samples: list[float] = []
    while proc.poll() is None:
        try:
            samples.append(_memory_mb(watched))
        except psutil.Error:
            break
        time.sleep(0.05)
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["mem_peak_mb"] = max(samples, default=0.0)
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


# -- stores --------------------------------------------------------------------------------


@contextmanager
def _store(backend: str) -> Iterator[str]:
    from canonical_model.store import make_engine, upgrade

    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-hukou-") as folder:
            url = f"sqlite:///{folder}/gridhub.db"
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()
            yield url
        return
    from tests.support import postgres

    postgres.ensure_running()
    with postgres.temporary_database() as name:
        url = postgres.url_for(name)
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


# -- the run --------------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "system": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _figure(
    figure: str, unit: str, value: float, size: int, target: Any = None, **extra: Any
) -> dict[str, Any]:
    row = {
        "figure": figure,
        "unit": unit,
        "value": round(value, 1),
        "target": target,
        "data_size": f"{size:,} persons",
        **extra,
    }
    if isinstance(target, int | float):
        row["met"] = value >= target if unit == "records/s" else value <= target
    return row


def run(args: argparse.Namespace) -> dict[str, Any]:
    from simulators.hukou import HukouSimulator

    sizes = sorted({max(1, args.persons // 5), args.persons})
    backends = [b for b in args.backends.split(",") if b]
    figures: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    machine = _machine()
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
    machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
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
    return {
        "benchmark": "hukou SOAP sync (simulator → adapter → canonical store)",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "settings": {
            "page_size": args.page_size,
            "checkpoint_every": args.checkpoint,
            "seed": args.seed,
            "map_workers": args.map_workers,
        },
        "figures": figures,
        "runs": runs,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| figure | data size | value | unit | target |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for f in result["figures"]:
        target = "" if f["target"] is None else str(f["target"])
        if "met" in f:
            target += " ✓" if f["met"] else " ✗"
        lines.append(
            f"| {f['figure']} | {f['data_size']} | {f['value']:,} | {f['unit']} | {target} |"
        )
    load = result["machine"]["load_average_at_start"]
    lines.append("")
    lines.append(
        f"{result['machine']['cores']} cores ({result['machine']['cpu']}), load average at "
        f"start {load[0]}; page size {result['settings']['page_size']}, checkpoint every "
        f"{result['settings']['checkpoint_every']}, mapping workers "
        f"{result['settings']['map_workers']}."
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
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return 0
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
