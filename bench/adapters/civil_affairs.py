"""民政 sync benchmark: records/s and peak RSS, ODBC (SQLite3 / PostgreSQL driver) → adapter →
canonical store (SQLite / PostgreSQL).

``python -m bench.adapters.civil_affairs --persons 100000 [--profile]``

The district is built once per size into both source databases. Each measurement runs in a
fresh interpreter so that its RSS is the adapter's and the engine's alone (the parent
samples it with psutil); a run at a fifth of the size shows whether memory grows with the
number of records. Three measurements per size: the adapter's transport alone (ODBC,
decoding, rows), the engine alone (records mapped beforehand, replayed into the store), and
the end-to-end sync: as it runs, for the rate, memory and total CPU, and once more with
extraction and mapping timed per record (CPU) so that the remainder is the engine's. At the
largest size the sync as it runs is repeated (``--repeat``, default 5), the four paths taking
turns round by round, and the figure is the median run's (with every run's rate beside it):
one run of each moved by ±40 % between back-to-back runs of the same build.
The timing costs four clock reads and two wrappers a record in the process that bounds the
rate (a clock read costs ~0.6 µs here; the timed run was slower in each of six pairs, by 2 %
to 28 %), so the rate never comes from it. With ``--map-workers`` (default 1) pages are
mapped ahead in a worker process, in pieces of ``--map-chunk`` records: its CPU (reaped
children) is reported as ``map_worker`` and counted in the total, and memory is the PSS of
the sync process and its worker (RSS would count the pages a forked worker shares with its
parent twice). ``--profile`` adds two cProfiles (mapping inline): one sync by layer, and the engine
alone by function.

Wall-clock rates on a shared machine move with its load (recorded); CPU time per record is
the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from adapters.contract import Adapter, Extracted, Mapped, Stream
from bench.adapters import harness

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "civil_affairs.json"
TARGET_RATE = 20_000  # records/s end to end
TARGET_RSS_MB = 500
SEED = 7


class _Replay(Stream):
    """A stream's records, extracted and mapped up front, handed to the engine again."""

    primary_key = ("case_no",)

    def __init__(self, stream: Stream) -> None:
        self.name = stream.name  # type: ignore[misc]
        # A bounded source yields no Flush markers: every item is a record.
        self.items = [i for i in stream.extract({}) if isinstance(i, Extracted)]
        self.mapped = {id(item): stream.map(item) for item in self.items}

    def extract(self, cursor: Any) -> Iterator[Extracted]:
        return iter(self.items)

    def map(self, item: Extracted) -> Mapped:
        return self.mapped[id(item)]


class _ReplayAdapter(Adapter):
    name = "civil_affairs"

    def streams(self) -> list[Stream]:
        return []

    def check_connection(self) -> tuple[bool, str | None]:
        return True, None


def _warm_up() -> None:
    """Load the value parsers' dictionaries (OpenCC, pinyin) before the clock starts: a
    one-off cost per process, not a per-record one."""
    from adapters.canonical import person_fields

    person_fields(name="張偉", id_number="330106194812044083", address="杭州市西湖區1號")


def _time_parts(spent: dict[str, float], clock: Any) -> None:
    """Time extraction, inline mapping and stolen pieces per record (CPU): four clock reads
    and two wrappers a record, in the process that bounds the rate — so the rate a sync
    reports comes from a run without them (``run`` measures each pair twice)."""
    from adapters.civil_affairs.streams import CivilAffairsStream
    from adapters.parallel import Ahead

    original_extract, original_map = CivilAffairsStream.extract, CivilAffairsStream.map
    original_steal = Ahead._steal

    def steal(self: Ahead) -> bool:  # runs inside extract: its time is taken out of it below
        began = clock()
        try:
            return original_steal(self)
        finally:
            spent["steal"] += clock() - began

    def extract(self: CivilAffairsStream, cursor: Any) -> Iterator[Any]:
        items = original_extract(self, cursor)
        while True:
            began = clock()
            item = next(items, None)
            spent["extract"] += clock() - began
            if item is None:
                return
            yield item

    def map_(self: CivilAffairsStream, item: Any) -> Any:
        began = clock()
        try:
            return original_map(self, item)
        finally:
            spent["map"] += clock() - began

    CivilAffairsStream.extract = extract  # type: ignore[method-assign]
    CivilAffairsStream.map = map_  # type: ignore[method-assign]
    Ahead._steal = steal  # type: ignore[method-assign]


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement (``spec["mode"]``: extract, engine or sync) in this fresh process."""
    from adapters.civil_affairs import CivilAffairsConfig, create_adapter
    from adapters.civil_affairs.streams import CivilAffairsStream
    from adapters.engine import sync_adapter, sync_stream
    from canonical_model.store import make_engine, session_factory

    clock = time.process_time
    workers = spec["map_workers"] if spec["mode"] == "sync" else 0
    config = CivilAffairsConfig(
        connection_string=spec["connection"], page_size=spec["page"], map_workers=workers
    )
    adapter = create_adapter(config)
    for each in adapter.streams():
        assert isinstance(each, CivilAffairsStream)
        each.map_chunk = spec["map_chunk"]
    out: dict[str, Any] = {}
    if spec["mode"] == "extract":
        started, cpu = time.perf_counter(), clock()
        out["received"] = sum(1 for s in adapter.streams() for _ in s.extract({}))
        adapter.close()
        return out | {"elapsed_s": time.perf_counter() - started, "cpu_s": clock() - cpu}
    sessions = session_factory(make_engine(spec["store_url"]))
    _warm_up()
    if spec["mode"] == "engine":
        replays = [_Replay(s) for s in adapter.streams()]
        adapter.close()
        started, cpu = time.perf_counter(), clock()
        for replay in replays:
            sync_stream(_ReplayAdapter(), replay, sessions, checkpoint_every=spec["checkpoint"])
        out["received"] = sum(len(r.items) for r in replays)
        return out | {"elapsed_s": time.perf_counter() - started, "cpu_s": clock() - cpu}

    spent = {"extract": 0.0, "map": 0.0, "steal": 0.0}
    timed = bool(spec.get("parts"))
    if timed:
        _time_parts(spent, clock)
    me = psutil.Process()
    curve: list[tuple[int, float]] = []  # (records so far, RSS MiB) at each checkpoint
    so_far: dict[str, int] = {}  # per stream: the streams are synced one after the other

    def progress(report: Any) -> None:
        so_far[report.stream] = report.received
        curve.append((sum(so_far.values()), me.memory_info().rss / 2**20))

    postgres = spec["store_url"].startswith("postgresql")
    database = harness.postgres_cpu() if postgres else {}
    started, cpu = time.perf_counter(), clock()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    # One sync of every stream, as `gridhub sync civil_affairs` runs it: one connection and
    # one mapping worker for the run (a sync per stream closed both after each stream).
    reports = sync_adapter(
        adapter, sessions, checkpoint_every=spec["checkpoint"], progress=progress
    )
    received = sum(r.received for r in reports)
    elapsed, cpu = time.perf_counter() - started, clock() - cpu
    store_server = harness.postgres_cpu_since(database) if postgres else 0.0
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)  # sync_adapter closed the pool
    worker = reaped.ru_utime - kids.ru_utime + reaped.ru_stime - kids.ru_stime
    parts = {
        "extract_cpu_s": spent["extract"] - spent["steal"],
        "map_cpu_s": spent["map"],
        "stolen_cpu_s": spent["steal"],
    }
    return {
        "received": received,
        "elapsed_s": elapsed,
        "cpu_s": cpu + worker,
        "worker_cpu_s": worker,
        **(parts if timed else {}),
        "store_server_cpu_s": store_server,
        "rss_curve": curve,
    }


def _measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``_child`` in a fresh interpreter; its memory is its own RSS."""
    tree = spec["mode"] == "sync" and spec["map_workers"]
    result, peak = harness.run_child(
        "bench.adapters.civil_affairs", spec, "pss_tree" if tree else "rss"
    )
    n = max(1, result["received"])
    result["rate"] = result["received"] / result["elapsed_s"]
    result["cpu_rate"] = result["received"] / max(result["cpu_s"], 1e-9)
    result["rss_peak_mb"] = round(peak, 1)
    if spec["mode"] != "sync":
        return result
    curve = result.pop("rss_curve")
    for share, name in ((0.2, "rss_after_20pct_mb"), (1.0, "rss_after_100pct_mb")):
        reached = [round(rss, 1) for got, rss in curve if got >= share * n]
        result[name] = reached[0] if reached else None
    worker = result["worker_cpu_s"]
    shares = [("total_cpu", result["cpu_s"]), ("map_worker", worker)]
    if "extract_cpu_s" in result:  # a timed run (``_time_parts``): its CPU by part
        stolen = result["stolen_cpu_s"]
        mine = result["extract_cpu_s"] + result["map_cpu_s"] + stolen
        shares += [("extract", result["extract_cpu_s"]), ("map", result["map_cpu_s"])]
        shares += [("map_stolen", stolen), ("engine", result["cpu_s"] - worker - mine)]
    shares.append(("store_server", result["store_server_cpu_s"]))
    result["us_per_record"] = {k: round(v / n * 1e6, 1) for k, v in shares}
    return result


def _build_sources(persons: int, backends: list[str], stack: ExitStack) -> dict[str, Any]:
    """The district of ``persons`` in each source backend: {backend: (ODBC string, rows)}."""
    from simulators.civil_affairs import CivilAffairsSimulator
    from simulators.district import District
    from tests.support import postgres

    district = District(persons=persons, seed=SEED)
    built: dict[str, Any] = {}
    for backend in backends:
        if backend == "sqlite":
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ca-src-"))
            sim = CivilAffairsSimulator.sqlite(Path(folder) / "civil_affairs.db", seed=SEED)
        else:
            postgres.ensure_running()
            name = f"bench_ca_src_{uuid.uuid4().hex[:8]}"
            sim = CivilAffairsSimulator.postgresql(name, seed=SEED, user=postgres.USER)
            stack.callback(postgres.drop_database, name)
        built[backend] = (sim.connection_string, sim.build(district).total)
        print(f"  {backend} source: {built[backend][1]} records", file=sys.stderr)
    return built


def _store(backend: str) -> AbstractContextManager[str]:
    return harness.store(backend, "bench-ca-store-")


_LAYERS = (  # (substring of "file:function", layer); first match wins
    ("adapters/engine/", "engine (sync_stream, upsert, quarantine)"),
    ("/audit/", "audit append"),
    ("json/encoder.py", "JSON encoding (engine hashes, SQLAlchemy JSON binds)"),
    ("json/__init__.py:dumps", "JSON encoding (engine hashes, SQLAlchemy JSON binds)"),
    ("sqlalchemy/", "SQLAlchemy (compile, ORM bulk insert, binds)"),
    ("sqlite3", "store driver"),
    ("psycopg", "store driver"),
    ("canonical_model/values/", "value parsers (address, name, ID, phone)"),
    ("opencc", "value parsers (address, name, ID, phone)"),
    ("pypinyin", "value parsers (address, name, ID, phone)"),
    ("adapters/canonical.py", "person_fields (shared mapping)"),
    ("adapters/civil_affairs/", "civil_affairs adapter (decode, rows, mapping)"),
    ("pyodbc", "ODBC fetch"),
)
_ENGINE_PARTS = (  # (substring of "file:function", what it is): cumulative time
    ("engine/sync.py:_commit_checkpoint", "checkpoint transaction, all of it"),
    ("engine/store.py:upsert_records", "lookup of stored keys + INSERT/COPY source_record"),
    ("default.py:do_execute", "store driver executing statements (DB-API)"),
    ("engine/encoding.py:prepare", "encoding a mapped record: canonical fields, hash"),
    ("engine/encoding.py:raw_bytes", "encoding the raw record (hash and payload)"),
    ("engine/store.py:check", "whether the stream holds records, open quarantine (once)"),
    ("engine/quarantine.py:quarantine", "quarantine rejected records"),
    ("engine/state.py:lock_state", "SELECT … FOR UPDATE of sync_state"),
    ("log.py:append", "audit append (one entry per checkpoint)"),
    ("engine/sync.py:_after_sync", "flush and ANALYZE after a stream (PostgreSQL)"),
)


def _profile(connection: str, checkpoint: int) -> list[dict[str, Any]]:
    """Two cProfiles (SQLite3 source, SQLite store): a sync by layer, the engine by part."""
    import cProfile
    import pstats

    from adapters.civil_affairs import CivilAffairsConfig, create_adapter
    from adapters.engine import sync_adapter, sync_stream
    from canonical_model.store import make_engine, session_factory

    def run(body: Any) -> dict[str, tuple[float, float]]:
        with _store("sqlite") as url:
            sessions = session_factory(make_engine(url))
            _warm_up()
            profiler = cProfile.Profile()
            profiler.runcall(body, sessions)
        stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
        return {f"{f}:{fn}": (own, cum) for (f, _l, fn), (_c, _n, own, cum, _) in stats.items()}

    adapter = create_adapter(CivilAffairsConfig(connection_string=connection, map_workers=0))
    sync = run(lambda sessions: sync_adapter(adapter, sessions, checkpoint_every=checkpoint))
    total = sum(own for own, _ in sync.values())
    layers: dict[str, float] = {}
    for where, (own, _) in sync.items():
        layer = next((name for key, name in _LAYERS if key in where), "other (Python builtins)")
        layers[layer] = layers.get(layer, 0.0) + own / total
    fresh = create_adapter(CivilAffairsConfig(connection_string=connection, map_workers=0))
    replays = [_Replay(s) for s in fresh.streams()]

    def engine_alone(sessions: Any) -> None:
        for replay in replays:
            sync_stream(_ReplayAdapter(), replay, sessions, checkpoint_every=checkpoint)

    alone = run(engine_alone)
    whole = max(cum for where, (_, cum) in alone.items() if where.endswith(":engine_alone"))
    parts = {
        label: sum(cum for where, (_, cum) in alone.items() if key in where) / whole
        for key, label in _ENGINE_PARTS
    }
    return [
        {"figure": "profile of a sync by layer (own time)", "value": _ranked(layers)},
        {"figure": "profile of the engine alone by part (cumulative)", "value": _ranked(parts)},
    ]


def _ranked(shares: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}


def _sync(spec: dict[str, Any]) -> dict[str, Any]:
    """One end-to-end sync into a fresh store; every record must arrive."""
    result = _measure(spec | {"mode": "sync"})
    assert result["received"] == spec["records"], (result["received"], spec["records"])
    return result


def _sync_rounds(
    syncs: list[tuple[str, str, dict[str, Any], str]], repeat: int
) -> list[list[dict[str, Any]]]:
    """``repeat`` syncs of each (source, store), taking turns round by round: on a machine
    whose speed drifts by tens of per cent within minutes, one run of each would compare
    moments as much as paths, and turns spread a slow spell over all of them."""
    runs: list[list[dict[str, Any]]] = [[] for _ in syncs]
    for _ in range(repeat):
        for i, (_source, store, base, _size) in enumerate(syncs):
            with _store(store) as url:
                runs[i].append(_sync(base | {"store_url": url}))
    return runs


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median rate (the lower middle of an even number): its rate is the figure,
    and its CPU a record and memory curve come with it, as measured together."""
    ranked = sorted(runs, key=lambda r: r["rate"])
    return ranked[(len(ranked) - 1) // 2]


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    first = args.persons[0]
    sizes = sorted(
        set(args.persons) if len(args.persons) > 1 else {args.small or first // 5, first}
    )
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": harness.machine(sqlite=sqlite3.sqlite_version),
    }
    figures: list[dict[str, Any]] = []

    def rate(figure: str, result: dict[str, Any], size: str, **extra: Any) -> None:
        figures.append(
            {"figure": figure, "unit": "records/s", "value": round(result["rate"], 1),
             "target": f">= {TARGET_RATE}", "data_size": size,
             "cpu_rate": round(result["cpu_rate"], 1), **extra, **meta}
        )  # fmt: skip

    with ExitStack() as stack:
        for persons in sizes:
            print(f"{persons} persons:", file=sys.stderr)
            sources = _build_sources(persons, args.sources, stack)
            syncs: list[tuple[str, str, dict[str, Any], str]] = []
            for source, (connection, records) in sources.items():
                size = f"{persons} persons, {records} records"
                base = {"connection": connection, "checkpoint": args.checkpoint}
                base |= {"page": args.page_size, "store_url": None, "map_workers": args.map_workers}
                base |= {"map_chunk": args.map_chunk, "records": records}
                extracted = _measure(base | {"mode": "extract"})
                rate(f"extraction only (ODBC, decoding, rows), {source} ODBC", extracted, size,
                     rss_peak_mb=extracted["rss_peak_mb"])  # fmt: skip
                for store in args.stores:
                    if source == "sqlite":
                        with _store(store) as url:
                            alone = _measure(base | {"mode": "engine", "store_url": url})
                        rate(f"engine alone (records mapped beforehand) → {store} store",
                             alone, size)  # fmt: skip
                    syncs.append((source, store, base, size))
            repeat = args.repeat if persons == sizes[-1] else 1
            for (source, store, base, size), runs in zip(
                syncs, _sync_rounds(syncs, repeat), strict=True
            ):
                with _store(store) as url:  # the CPU by part, from a timed run of its own
                    timed = _sync(base | {"store_url": url, "parts": True})
                result = _median_run(runs)
                label = f"{source} ODBC → {store} store"
                print(f"  {label}: {result['rate']:.0f} records/s, median of "
                      f"{len(runs)} (timed run {timed['rate']:.0f})", file=sys.stderr)  # fmt: skip
                rate(f"end-to-end sync rate, {label}", result, size,
                     us_per_record=result["us_per_record"],
                     runs=[round(r["rate"], 1) for r in runs],
                     timed_run={"rate": round(timed["rate"], 1),
                                "us_per_record": timed["us_per_record"]})  # fmt: skip
                figures.append(
                    {"figure": f"peak RSS, {label}", "unit": "MiB",
                     "value": round(max(r["rss_peak_mb"] for r in runs), 1),
                     "target": f"< {TARGET_RSS_MB}", "data_size": size,
                     "rss_after_20pct_mb": result["rss_after_20pct_mb"],
                     "rss_after_100pct_mb": result["rss_after_100pct_mb"], **meta}
                )  # fmt: skip
            if args.profile and persons == sizes[-1] and "sqlite" in sources:
                for profile in _profile(sources["sqlite"][0], args.checkpoint):
                    size = f"{persons} persons, {sources['sqlite'][1]} records"
                    figures.append(
                        profile | {"unit": "share", "target": None, "data_size": size, **meta}
                    )
    return figures


def markdown(figures: list[dict[str, Any]]) -> str:
    lines = [
        "| figure | data | value | target | CPU µs/record |",
        "| --- | --- | ---: | --- | --- |",
    ]
    for f in figures:
        us = f.get("us_per_record")
        if f["unit"] == "share":
            continue
        if us:
            timed = f.get("timed_run")
            parts = timed["us_per_record"] if timed else us
            detail = f"{us['total_cpu']:.0f}"
            runs = f.get("runs")
            if runs and len(runs) > 1:  # results before 2026-11-25 had one run
                detail = (
                    f"median of {len(runs)} runs ({min(runs):,.0f}–{max(runs):,.0f}/s), "
                    f"that run's {detail}"
                )
            if "extract" in parts:  # results before 2026-11-24 timed the rated run itself
                where = f"a second, timed run: {parts['total_cpu']:.0f}" if timed else "this run"
                detail += (
                    f"; by part ({where}) extract "
                    f"{parts['extract']:.0f} + map {parts['map']:.0f} + map of pieces taken "
                    f"from the worker {parts['map_stolen']:.0f} + map in worker "
                    f"{parts['map_worker']:.0f} + engine {parts['engine']:.0f}"
                )
            if us.get("store_server"):  # what the cores allow at best, PostgreSQL's work included
                whole, cores = us["total_cpu"] + us["store_server"], f["machine"]["cores"]
                detail += (
                    f"; PostgreSQL's own {us['store_server']:.0f} (with it {whole:.0f}: "
                    f"at most {cores * 1e6 / whole:,.0f}/s on {cores} cores)"
                )
        elif "cpu_rate" in f:
            detail = f"{1e6 / f['cpu_rate']:.0f}"
            detail += f"; peak RSS {f['rss_peak_mb']} MiB" if "rss_peak_mb" in f else ""
        else:
            detail = f"RSS at 20 % / 100 %: {f['rss_after_20pct_mb']} / {f['rss_after_100pct_mb']}"
        lines.append(
            f"| {f['figure']} | {f['data_size']} | {f['value']} {f['unit']} | {f['target']} "
            f"| {detail} |"
        )
    for f in (f for f in figures if f["unit"] == "share"):
        lines += ["", f"**{f['figure']}** ({f['data_size']})", ""]
        lines += ["| part | share |", "| --- | ---: |"]
        lines += [f"| {k} | {v:.1%} |" for k, v in f["value"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, nargs="+", default=[100_000])
    parser.add_argument("--small", type=int, help="with one --persons: default a fifth of it")
    parser.add_argument("--sources", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--checkpoint", type=int, default=500)
    parser.add_argument("--page-size", type=int, default=5000)
    parser.add_argument("--map-workers", type=int, default=1, help="0 maps inline")
    parser.add_argument(
        "--map-chunk", type=int, default=250, help="records per piece sent to a mapping worker"
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="end-to-end syncs of each path at the largest size"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile a sync and the engine")
    parser.add_argument("--append", action="store_true", help="merge into the results file")
    parser.add_argument("--no-write", action="store_true", help="do not write the results file")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        harness.child_main(args.child, _child)
        return
    figures = run(args)
    if not args.no_write:
        if args.append and args.out.exists():
            fresh = {(f["figure"], f["data_size"]) for f in figures}
            kept = json.loads(args.out.read_text())
            figures = [f for f in kept if (f["figure"], f["data_size"]) not in fresh] + figures
        harness.write_json(args.out, figures)
    print(markdown(figures))


if __name__ == "__main__":
    main()
