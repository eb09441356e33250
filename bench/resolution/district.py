"""``python -m bench.resolution.district``: the master person index on the synthetic district.

For each size the district is generated, its source views stored as source records
(SQLite, the embedded default), and then, each in a fresh process so peak memory is its
own: gridhub's full resolution over the store (read, normalise, match, write persons,
lineage, index), the gridhub engine alone on the same records in memory, Splink on the
same records (``district_splink``), and the incremental path — held-out records placed one
at a time against everything already resolved.  Scores are pairwise and B-cubed, over all
records and over *resolvable* ones (records carrying an identifier group the profile
accepts: an ID, or a name with a birth date, phone or address); the truth is the
simulator's ``person_key``.  Every figure carries the load average it was measured under:
the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import pickle
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.resolution.district_report import markdown, row

RESULTS = Path(__file__).resolve().parent.parent / "results" / "resolution_district.json"
WORK = Path(__file__).resolve().parents[2] / "var" / "bench" / "district"


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _child(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``fn`` in a fresh process; adds its peak RSS and the load before and after.
    (An executor, not a ``Pool``: a pool's workers are daemons and may not start the
    normalising workers of their own.)"""
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(_measured, fn, *args).result()


def _measured(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    before = _load()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = fn(*args)
    after = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds beside wall seconds: on a shared machine the wall figure is inflated by
    # whatever else runs, the CPU figure much less so
    out["cpu_seconds"] = round(
        after.ru_utime
        + after.ru_stime
        - usage.ru_utime
        - usage.ru_stime
        + kids.ru_utime
        + kids.ru_stime,
        1,
    )
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    # the normalising workers' own peak (each, not summed), when a phase started any
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    out["worker_peak_rss_mb"] = round(children, 1) if children else None
    out["load_average"] = {"before": before, "after": _load()}
    return out


# --- phases (each runs in its own process) ------------------------------------------------
def prepare(
    persons: int, seed: int, holdout: int, work: Path, frame: bool = True
) -> dict[str, Any]:
    """Generate the district and store its records; keep ``holdout`` of them back.

    Rows stream from the generator to the store in chunks, so memory does not grow with
    the district: the truth is an int per record (``truth.npy``, in insertion order, so
    record ids line up with it).  ``frame`` also writes the records as a data frame for
    the in-memory runs (engine, Splink), which only run at sizes where it fits.
    """
    import pandas as pd

    from bench.resolution.district_records import (
        CompactTruth,
        HoldOut,
        canonical_of,
        chunked,
        district_rows,
        insert_rows_of,
    )
    from canonical_model.store import make_engine, session_factory, transaction, upgrade
    from resolution.store_read import canonical_columns
    from simulators.district import District

    work.mkdir(parents=True, exist_ok=True)
    db = work / "store.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    for stale in ("records.pkl", "truth.pkl"):
        (work / stale).unlink(missing_ok=True)
    start = time.perf_counter()
    split = HoldOut(holdout, seed)
    truth = CompactTruth()
    frames: list[pd.DataFrame] = []
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    with transaction(session_factory(engine)) as s:
        for batch in chunked(split.kept(district_rows(District(persons, seed))), 20_000):
            insert_rows_of(s, batch, start=len(truth.labels))
            for r in batch:
                truth.add(r.person_key)
            if frame:
                frames.append(
                    pd.DataFrame(
                        {"source": r.source, "source_key": r.source_key}
                        | canonical_columns(canonical_of(r))
                        for r in batch
                    )
                )
    engine.dispose()
    if frame:
        pd.concat(frames, ignore_index=True).to_pickle(work / "records.pkl")
    np.save(work / "truth.npy", np.frombuffer(truth.labels, dtype=np.int64))
    held = split.held
    with (work / "holdout.pkl").open("wb") as fh:
        pickle.dump(held, fh)
    seconds = time.perf_counter() - start
    shutil.copyfile(db, work / "fresh.db")  # every store run starts from this copy
    return {"records": len(truth.labels), "held_out": len(held), "seconds": seconds}


def store_run(work: Path) -> dict[str, Any]:
    """gridhub full resolution over the store, then the outcome read back per record."""
    from sqlalchemy import select

    from canonical_model import SourceRecord
    from canonical_model.resolution_state import ResolutionEntry
    from canonical_model.store import make_engine, session_factory, transaction
    from resolution.store import resolve_store

    for suffix in ("-wal", "-shm"):
        Path(f"{work / 'store.db'}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(work / "fresh.db", work / "store.db")
    engine = make_engine(f"sqlite:///{work / 'store.db'}")
    factory = session_factory(engine)
    start = time.perf_counter()
    with transaction(factory) as s:
        summary = resolve_store(s)
    seconds = time.perf_counter() - start
    with factory() as s:
        outcome = s.execute(
            select(SourceRecord.person_id, ResolutionEntry.sufficient)
            .outerjoin(ResolutionEntry, ResolutionEntry.source_record_id == SourceRecord.id)
            .order_by(SourceRecord.id)
        ).all()
    engine.dispose()
    return {
        "seconds": seconds,
        "labels": [pid for pid, _ in outcome],  # record ids follow ``truth.npy``
        "resolvable": [bool(ok) for _, ok in outcome],
        "summary": {k: v for k, v in summary.items() if k != "golden"},
    }


def engine_run(work: Path) -> dict[str, Any]:
    """The gridhub engine alone, on the same records in memory (no store)."""
    import pandas as pd

    from resolution import resolve

    frame = pd.read_pickle(work / "records.pkl")
    start = time.perf_counter()
    result = resolve(frame, "cn_person")
    seconds = time.perf_counter() - start
    left, right = result.match_pairs()
    return {
        "seconds": seconds,
        "labels": result.clusters()["person_id"].tolist(),
        "pairs": list(zip(left.tolist(), right.tolist(), strict=True)),
    }


def splink_run(work: Path) -> dict[str, Any]:
    import pandas as pd

    from bench.resolution import district_splink

    frame = pd.read_pickle(work / "records.pkl")
    start = time.perf_counter()
    derived = district_splink.derived_frame(frame)
    prepared = time.perf_counter() - start
    out = district_splink.run(derived)
    out["seconds_features"] = prepared
    out["seconds"] = out["seconds"] + prepared
    return out


def incremental_run(work: Path) -> dict[str, Any]:
    """Held-out records placed one by one, one transaction each, against the store."""
    from bench.resolution.incremental_latency import place_each

    return place_each(work)


@dataclass(frozen=True)
class Preset:
    sizes: tuple[int, ...]
    splink: tuple[int, ...]
    engine: tuple[int, ...]
    holdout: int


QUICK = Preset(sizes=(2000,), splink=(2000,), engine=(2000,), holdout=200)
FULL = Preset(
    sizes=(10_000, 100_000, 1_000_000),
    splink=(10_000, 100_000),
    engine=(10_000, 100_000),
    holdout=1000,
)


def run_district(
    sizes: tuple[int, ...],
    *,
    splink: tuple[int, ...] = (),
    engine: tuple[int, ...] = (),
    seed: int = 7,
    holdout: int = 1000,
    work: Path = WORK,
    out: Path | None = RESULTS,
    reuse: bool = False,
) -> dict[str, Any]:
    """Every phase at every size; the document is rewritten to ``out`` after each phase
    (rows of sizes not run this time are kept from the file), so a long run stopped half
    way keeps what it measured; only returned when ``out`` is None.  ``reuse`` skips
    generating and storing a district whose files are already in ``work``."""
    rows: list[dict[str, Any]] = []
    incremental: list[dict[str, Any]] = []
    previous = json.loads(out.read_text()) if out is not None and out.exists() else {}
    doc: dict[str, Any] = {}
    for size in sizes:
        size_work = work / str(size)
        in_memory = size in engine or size in splink
        ready = (size_work / "fresh.db").exists() and (size_work / "truth.npy").exists()
        if reuse and ready and (not in_memory or (size_work / "records.pkl").exists()):
            print(f"{size}: reusing the district stored in {size_work}", file=sys.stderr)
        else:
            prep = _child(prepare, size, seed, holdout, size_work, in_memory)
            print(
                f"{size}: {prep['records']} records stored in {prep['seconds']:.0f} s",
                file=sys.stderr,
            )
        truth = np.load(size_work / "truth.npy").tolist()
        store = _child(store_run, size_work)
        mask = store["resolvable"]
        rows.append(row(size, "gridhub (store, full run)", store, truth, mask))
        print(f"{size}: store run {store['seconds']:.0f} s", file=sys.stderr)
        doc = _document(rows, incremental, previous, out)
        if holdout:  # before the in-memory rows: it needs the store the full run left
            inc = _child(incremental_run, size_work)
            incremental.append({"persons": size, **inc})
            doc = _document(rows, incremental, previous, out)
        if size in engine:
            run = _child(engine_run, size_work)
            rows.append(row(size, "gridhub (engine, in memory)", run, truth, mask))
            doc = _document(rows, incremental, previous, out)
        if size in splink:
            run = _child(splink_run, size_work)
            rows.append(row(size, "splink 5 (duckdb, in memory)", run, truth, mask))
            doc = _document(rows, incremental, previous, out)
        print(f"{size}: done", file=sys.stderr)
    return doc or _document(rows, incremental, previous, out)


def _document(
    rows: list[dict[str, Any]],
    incremental: list[dict[str, Any]],
    previous: dict[str, Any],
    out: Path | None,
) -> dict[str, Any]:
    from bench.resolution.report import machine

    done = {r["persons"] for r in rows}
    fresh = {x["persons"] for x in incremental}
    doc = {
        "benchmark": "master person index on the synthetic district (simulators.district)",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "notes": __doc__.strip().split("\n\n")[0].replace("\n", " ") if __doc__ else "",
        "splink_settings": "see bench/resolution/district_splink.py (docstring)",
        "runs": rows + [r for r in previous.get("runs", []) if r["persons"] not in done],
        "incremental": incremental
        + [r for r in previous.get("incremental", []) if r["persons"] not in fresh],
    }
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return doc


@contextmanager
def work_dir(given: Path | None, *, quick: bool) -> Iterator[Path]:
    """``given``, else the shared ``WORK`` for full runs; a quick run without one gets a
    private temporary directory (removed after), so two quick runs at once (``python -m
    bench`` while someone runs this by hand) never overwrite each other's store."""
    if given is not None or not quick:
        yield given or WORK
        return
    with tempfile.TemporaryDirectory(prefix="gridhub-district-quick-") as tmp:
        yield Path(tmp)


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The district's options (also under ``python -m bench.resolution district``)."""
    parser.add_argument("--quick", action="store_true", help="2,000 persons, nothing written")
    parser.add_argument("--sizes", help="persons, comma-separated (default 10k,100k,1M)")
    parser.add_argument("--splink", help="sizes Splink also runs at (default 10k,100k)")
    parser.add_argument("--engine", help="sizes the in-memory engine runs at (default 10k,100k)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--holdout", type=int, help="records placed incrementally (1000)")
    parser.add_argument(
        "--work", type=Path, help=f"where districts are stored (default {WORK}; quick: a temp dir)"
    )
    parser.add_argument("--out", type=Path, help=f"results file (default {RESULTS})")
    parser.add_argument("--reuse", action="store_true", help="keep a district already stored")


def from_arguments(args: argparse.Namespace) -> dict[str, Any]:
    preset = QUICK if args.quick else FULL

    def pick(text: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
        return default if text is None else _sizes(text)

    out = args.out if args.out is not None else (None if args.quick else RESULTS)
    with work_dir(args.work, quick=args.quick) as work:
        doc = run_district(
            pick(args.sizes, preset.sizes),
            splink=pick(args.splink, preset.splink),
            engine=pick(args.engine, preset.engine),
            seed=args.seed,
            holdout=preset.holdout if args.holdout is None else int(args.holdout),
            work=work,
            out=out,
            reuse=args.reuse,
        )
    print(markdown(doc["runs"], doc["incremental"]))
    if out is not None:
        print(f"\nwritten: {out}", file=sys.stderr)
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.resolution.district", description=__doc__
    )
    add_arguments(parser)
    from_arguments(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
