"""One new record against everything already resolved: how long until it has a person.

Two figures per record, each its own transaction as a sync-triggered run would do it:
*match* — normalise, look up the blocking index, score the candidates, decide (read
only); *placement* — index the record, decide, link it, refresh the golden record of the
person it joined or created, commit.  The model and the person index over it (with its
cache of term counts, frozen with the model) are built once, as in a running worker.
Beside wall times: the placement's CPU time and how many statements SQLite ran for it.
``living_alone`` is left out of the per-record figure: an incremental run refreshes it
once per batch, because it scans the person table (``person.residential_address_id``
has no index).
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import event, func, select, tuple_

from bench.resolution.district_records import insert_rows_of
from canonical_model import Person, SourceRecord
from canonical_model.store import make_engine, session_factory, transaction
from resolution import load_profile
from resolution.features import normalise_record
from resolution.incremental import PersonIndex
from resolution.state import active_model
from resolution.store_golden import refresh_persons
from resolution.store_incremental import index_records, pending_records, place_record
from resolution.store_index import StoreBackend
from resolution.store_read import canonical_columns

__all__ = ["place_each"]


def _ms(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values) * 1000
    return {q: round(float(np.percentile(arr, p)), 2) for q, p in (("p50", 50), ("p99", 99))} | {
        "max": round(float(arr.max()), 2),
        "mean": round(float(arr.mean()), 2),
    }


def place_each(work: Path) -> dict[str, Any]:
    engine = make_engine(f"sqlite:///{work / 'store.db'}")
    factory = session_factory(engine)
    with (work / "holdout.pkl").open("rb") as fh:
        held = pickle.load(fh)
    with transaction(factory) as s:
        persons = int(s.scalar(select(func.count()).select_from(Person)) or 0)
        insert_rows_of(s, held, start=10_000_000)
        wanted = [(r.source, r.source_key) for r in held]
        key = tuple_(SourceRecord.source, SourceRecord.source_key)
        ids = [
            rid
            for start in range(0, len(wanted), 300)
            for rid in s.scalars(
                select(SourceRecord.id).where(key.in_(wanted[start : start + 300]))
            )
        ]
    profile = load_profile("cn_person")
    with factory() as s:
        model = active_model(s, profile)
    assert model is not None, "run the full resolution first"
    match_s: list[float] = []
    place_s: list[float] = []
    place_cpu: list[float] = []
    statements = [0]  # every statement SQLite runs (an executemany counts each row)

    @event.listens_for(engine, "connect")
    def _count(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.set_trace_callback(
            lambda _sql: statements.__setitem__(0, statements[0] + 1)
        )

    engine.dispose()  # reconnect, so every connection counts
    counted = 0
    decisions: dict[str, int] = {}
    cpu_by: dict[str, list[float]] = {}  # placement CPU by decision: where the tail is
    with factory() as s:  # one index for the run, rebound to each transaction's session
        backend = StoreBackend(s, profile, model)
        index = PersonIndex(backend)
    for rid in sorted(ids):
        with factory() as s:
            stored = s.get(SourceRecord, rid)
            assert stored is not None
            start = time.perf_counter()
            values = normalise_record(profile, canonical_columns(stored.canonical))
            backend.bind(s)
            index.match_values(values)
            match_s.append(time.perf_counter() - start)
        start, cpu, before = time.perf_counter(), time.thread_time(), statements[0]
        with transaction(factory) as s:
            (record,) = pending_records(s, [rid])
            backend.bind(s)
            indexed = index_records(s, profile, [record])
            placed = place_record(s, index, record, indexed[rid])
            refresh_persons(s, placed.touched, living_alone=False, geography=backend.geography)
        place_s.append(time.perf_counter() - start)
        place_cpu.append(time.thread_time() - cpu)
        counted += statements[0] - before
        decisions[placed.decision] = decisions.get(placed.decision, 0) + 1
        cpu_by[placed.decision] = [*cpu_by.get(placed.decision, []), place_cpu[-1]]
    engine.dispose()
    return {
        "persons_indexed": persons,
        "placed": len(ids),
        "decisions": decisions,
        "match_ms": _ms(match_s),
        "placement_ms": _ms(place_s),
        # CPU of the placing thread (SQLite runs in it; the store's checkpoint thread is
        # not counted): far less inflated by a busy machine
        "placement_cpu_ms": _ms(place_cpu),
        "placement_cpu_ms_by_decision": {k: _ms(v) for k, v in sorted(cpu_by.items())},
        "statements_per_placement": round(counted / max(len(ids), 1), 1),
        "seconds": sum(place_s),
    }
