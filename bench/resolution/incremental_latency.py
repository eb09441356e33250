"""One new record against everything already resolved: how long until it has a person.

Two figures per record, each its own transaction as a sync-triggered run would do it:
*match* — normalise, look up the blocking index, score the candidates, decide (read
only); *placement* — index the record, decide, link it, refresh the golden record of the
person it joined or created, commit.  The model is loaded once, as in a running worker.
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
from sqlalchemy import func, select, tuple_

from bench.resolution.district_records import insert_rows_of
from canonical_model import Person, SourceRecord
from canonical_model.store import make_engine, session_factory, transaction
from resolution import load_profile
from resolution.features import normalise_record
from resolution.incremental import PersonIndex
from resolution.state import active_model
from resolution.store_golden import refresh_persons
from resolution.store_incremental import index_records, place_record
from resolution.store_index import StoreBackend
from resolution.store_read import canonical_columns

__all__ = ["place_each"]


def _ms(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values) * 1000
    return {q: round(float(np.percentile(arr, p)), 2) for q, p in (("p50", 50), ("p99", 99))} | {
        "max": round(float(arr.max()), 2)
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
    decisions: dict[str, int] = {}
    for rid in sorted(ids):
        with factory() as s:
            record = s.get(SourceRecord, rid)
            assert record is not None
            start = time.perf_counter()
            values = normalise_record(profile, canonical_columns(record.canonical))
            PersonIndex(StoreBackend(s, profile, model)).match_values(values)
            match_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        with transaction(factory) as s:
            record = s.get(SourceRecord, rid)
            assert record is not None
            index = PersonIndex(StoreBackend(s, profile, model))
            indexed = index_records(s, profile, [record])
            placed = place_record(s, index, record, indexed[rid])
            refresh_persons(
                s, [p for p in placed.touched if s.get(Person, p) is not None], living_alone=False
            )
        place_s.append(time.perf_counter() - start)
        decisions[placed.decision] = decisions.get(placed.decision, 0) + 1
    engine.dispose()
    return {
        "persons_indexed": persons,
        "placed": len(ids),
        "decisions": decisions,
        "match_ms": _ms(match_s),
        "placement_ms": _ms(place_s),
        "seconds": sum(place_s),
    }
