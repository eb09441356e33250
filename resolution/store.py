"""Full resolution over the canonical store: every record linked to exactly one person.

A full run reads every person-bearing record (in chunks, see ``store_read``), runs the
batch engine with the clerks' decisions as constraints, and writes the outcome back.
Person uids must not change just because the run was repeated — worker apps, tasks and
other platforms hold them — so each cluster takes over the existing person most of its
records already belong to, and only clusters with no such person get a new one.  A
person left without records was absorbed by another cluster: it becomes ``merged`` into
that cluster's person, with a merge-log entry, and its events and tasks follow.  The
whole run is one transaction, so a crash leaves the previous state intact.
"""

from __future__ import annotations

import gc
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import func, select, tuple_, update
from sqlalchemy.orm import Session

from canonical_model import (
    Event,
    Gender,
    Person,
    PersonStatus,
    SourceRecord,
    SourceRecordHistory,
    Task,
    new_uid,
    utcnow,
)
from canonical_model.resolution_state import MatchReview, PersonMergeLog, ReviewStatus
from resolution.bulk import (
    foreign_keys_unchecked,
    indexes_deferred,
    insert_tuples,
    large_cache,
    update_rows,
)
from resolution.engine import MIN_TRAINING_RECORDS, REVIEW, Resolution, resolve
from resolution.profile import Profile, load_profile
from resolution.state import (
    active_model,
    advance,
    features_current,
    load_constraints,
    save_model,
    watermark,
)
from resolution.store_golden import refresh_persons
from resolution.store_index import freeze_terms, rebuild_index
from resolution.store_read import StoreTable, read_table, subject_of

__all__ = [
    "AUTOMATIC_ACTOR",
    "collector_paused",
    "follow_person",
    "link_dependents",
    "resolve_store",
    "sync_reviews",
]

AUTOMATIC_ACTOR = "resolution"
PARALLEL_FROM = 100_000
IntArray = npt.NDArray[np.int64]
#: The block index's per-record index receives the rows, sorted by key, in random order:
#: at a million persons 16M scattered B-tree inserts, where one ``CREATE INDEX`` sorts once.
_BLOCK_INDEXES = ("ix_resolution_block_record",)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for a full run, restored after.

    A full run holds millions of long-lived objects (feature values, golden inputs, rows
    on their way to the driver) and leaves almost no cycles behind (under a thousand
    objects at 20,000 persons), yet every full collection walks the whole heap again: at
    100,000 persons the collector's own passes took 11-16 of the run's 77-102 CPU
    seconds, most of them while golden records were written.  Process-wide, as the
    collector is: a thread running beside the run collects no cycles until it ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@collector_paused()
def resolve_store(
    session: Session,
    profile: Profile | str = "cn_person",
    *,
    refit: bool = False,
    workers: int | None = None,
) -> dict[str, Any]:
    """Re-resolve the whole store; ``refit`` fits a new model instead of reusing the stored
    one (the first run always fits); ``workers`` processes normalise records (default:
    one per core, up to four, for stores above 100,000 records).  Returns counts only."""
    prof = load_profile(profile) if isinstance(profile, str) else profile
    started = time.perf_counter()
    # every row the run writes points at records it reads or persons it creates here
    foreign_keys_unchecked(session)
    state = watermark(session, prof, lock=True)
    history_mark = session.scalar(select(func.max(SourceRecordHistory.id))) or 0
    if workers is None:
        size = session.scalar(select(func.count()).select_from(SourceRecord)) or 0
        workers = min(os.cpu_count() or 1, 4) if size > PARALLEL_FROM else 1
    store = read_table(session, prof, workers=workers, reuse=features_current(session, prof))
    read_s = time.perf_counter() - started
    model = None if refit else active_model(session, prof)
    if model is not None:
        freeze_terms(session, prof, store)
    must, cannot = _constraint_rows(session, store)
    result = resolve(store.table, prof, model=model, must_link=must, cannot_link=cannot)
    # a model fitted on a handful of records would place every later record badly: it is
    # kept only when there was enough to fit on, else the next run fits again
    keep_model = model is None and int((~result.insufficient).sum()) >= MIN_TRAINING_RECORDS
    if keep_model:
        save_model(session, prof, result.model, store.table.n)
    engine_s = time.perf_counter() - started - read_s
    with large_cache(session):
        person_of, assigned = assign_persons(session, store, result.person)
        linked = _link(session, store, person_of)
        with indexes_deferred(session, "resolution_block", names=_BLOCK_INDEXES):
            index = rebuild_index(session, prof, store, terms=model is None)
        reviews = sync_reviews(session, store.record_id, result, full=True)
        dependents = link_dependents(session, only_unlinked=False)
        golden = refresh_persons(session)
    advance(state, history_id=int(history_mark), mode="full")
    state.records_seen = store.table.n
    return {
        "mode": "full",
        "records": store.table.n,
        "persons": len(np.unique(person_of)) if len(person_of) else 0,
        "insufficient": int(result.insufficient.sum()),
        "matches": result.stats["matches"],
        "review_pairs": result.stats["review"],
        "records_relinked": linked,
        **assigned,
        **reviews,
        **index,
        "dependent_records_linked": dependents,
        "golden": golden,
        "model_refitted": keep_model,
        "seconds": {
            "read": round(read_s, 2),
            "engine": round(engine_s, 2),
            "write": round(time.perf_counter() - started - read_s - engine_s, 2),
            "engine_steps": result.stats["seconds"],
        },
    }


def _constraint_rows(
    session: Session, store: StoreTable
) -> tuple[tuple[IntArray, IntArray], tuple[IntArray, IntArray]]:
    cons = load_constraints(session)
    row_of = pd.Series(np.arange(len(store.record_id)), index=store.record_id)

    def rows(pairs: list[tuple[int, int]]) -> tuple[IntArray, IntArray]:
        if not pairs:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        frame = np.asarray(pairs, dtype=np.int64)
        left = row_of.reindex(frame[:, 0]).to_numpy()
        right = row_of.reindex(frame[:, 1]).to_numpy()
        ok = ~(np.isnan(left) | np.isnan(right))
        return left[ok].astype(np.int64), right[ok].astype(np.int64)

    return rows(cons.must), rows(cons.cannot)


def assign_persons(
    session: Session, store: StoreTable, cluster: IntArray
) -> tuple[IntArray, dict[str, int]]:
    """Store person id per row: clusters take over the person most of their records hold."""
    existing = store.person_id
    live = (
        set(session.scalars(select(Person.id).where(Person.status != PersonStatus.MERGED)))
        if (existing >= 0).any()
        else set()
    )
    held = (existing >= 0) & np.isin(existing, np.fromiter(live, dtype=np.int64, count=len(live)))
    votes = (
        pd.DataFrame({"cluster": cluster[held], "person": existing[held]})
        .value_counts()
        .reset_index(name="n")
        .sort_values(["n", "person", "cluster"], ascending=[False, True, True], kind="stable")
    )
    owner: dict[int, int] = {}
    taken: set[int] = set()
    for c, p in zip(votes["cluster"].tolist(), votes["person"].tolist(), strict=True):
        if c not in owner and p not in taken:
            owner[c] = p
            taken.add(p)
    clusters = int(cluster.max(initial=-1) + 1)
    fresh = [c for c in range(clusters) if c not in owner]
    owner.update(zip(fresh, create_persons(session, len(fresh)), strict=True))
    lookup = np.fromiter((owner[c] for c in range(clusters)), dtype=np.int64, count=clusters)
    person_of = lookup[cluster] if len(cluster) else np.empty(0, dtype=np.int64)
    absorbed = _absorbed(session, existing[held], person_of[held], taken)
    return person_of, {"persons_created": len(fresh), "persons_absorbed": absorbed}


def create_persons(session: Session, count: int) -> list[int]:
    """``count`` empty active persons (their golden fields come later); their ids."""
    if not count:
        return []
    uids = [new_uid() for _ in range(count)]
    now = utcnow()
    insert_tuples(
        session,
        Person.__table__,  # type: ignore[arg-type]
        ("uid", "gender", "tags", "flags", "conflicts", "status", "created_at", "updated_at"),
        ((u, Gender.UNKNOWN, [], [], {}, PersonStatus.ACTIVE, now, now) for u in uids),
    )
    ids: dict[str, int] = {}
    for start in range(0, count, 500):
        chunk = uids[start : start + 500]
        for uid, pid in session.execute(select(Person.uid, Person.id).where(Person.uid.in_(chunk))):
            ids[uid] = pid
    return [ids[u] for u in uids]


def _absorbed(session: Session, old: IntArray, new: IntArray, kept: set[int]) -> int:
    """Persons no cluster took over: merged into where most of their records went."""
    moved = pd.DataFrame({"old": old, "new": new})
    moved = moved[~moved["old"].isin(list(kept))]
    if moved.empty:
        return 0
    target = moved.groupby("old")["new"].agg(lambda s: int(s.value_counts().index[0]))
    records = session.execute(
        select(SourceRecord.person_id, SourceRecord.id).where(
            SourceRecord.person_id.in_(target.index.tolist())
        )
    ).all()
    by_person: dict[int, list[int]] = {}
    for person, rid in records:
        if person is not None:
            by_person.setdefault(int(person), []).append(int(rid))
    for old_id, new_id in target.items():
        follow_person(session, int(old_id), int(new_id))
        session.add(
            PersonMergeLog(
                action="merge",
                from_person_id=int(old_id),
                into_person_id=int(new_id),
                actor=AUTOMATIC_ACTOR,
                automatic=True,
                reason="full resolution run",
                snapshot={"records": sorted(by_person.get(int(old_id), []))},
            )
        )
        session.execute(
            update(Person)
            .where(Person.id == int(old_id))
            .values(status=PersonStatus.MERGED, merged_into_id=int(new_id))
        )
    return len(target)


def follow_person(session: Session, old: int, new: int) -> dict[str, list[int]]:
    """Events, tasks and merged persons pointing at ``old`` now point at ``new``;
    returns what moved, for a merge log that may have to move it back."""
    moved = {}
    for name, table in (("events", Event), ("tasks", Task)):
        ids = list(session.scalars(select(table.id).where(table.person_id == old)))
        if ids:
            session.execute(update(table).where(table.id.in_(ids)).values(person_id=new))
        moved[name] = ids
    session.execute(update(Person).where(Person.merged_into_id == old).values(merged_into_id=new))
    return moved


def _link(session: Session, store: StoreTable, person_of: IntArray) -> int:
    changed = np.flatnonzero(store.person_id != person_of)
    rows = (
        {"id": int(store.record_id[i]), "person_id": int(person_of[i])} for i in changed.tolist()
    )
    return update_rows(session, SourceRecord.__table__, "id", rows)  # type: ignore[arg-type]


def link_dependents(session: Session, *, only_unlinked: bool) -> int:
    """Records about another record (an Encounter about its Patient) join its person."""
    subject = SourceRecord.canonical[("facts", "subject", "source_key")].as_string()
    query = select(SourceRecord.id, SourceRecord.person_id, SourceRecord.canonical).where(
        subject.is_not(None)
    )
    if only_unlinked:
        query = query.where(SourceRecord.person_id.is_(None))
    wanted: dict[int, tuple[tuple[str, str, str], int | None]] = {}
    for rid, person, canonical in session.execute(query):
        ref = subject_of(canonical)
        if ref is not None:
            wanted[rid] = (ref, person)
    refs = sorted({ref for ref, _ in wanted.values()})
    owner: dict[tuple[str, str, str], int] = {}
    key = tuple_(SourceRecord.source, SourceRecord.stream, SourceRecord.source_key)
    for start in range(0, len(refs), 300):
        for src, stream, skey, person in session.execute(
            select(
                SourceRecord.source,
                SourceRecord.stream,
                SourceRecord.source_key,
                SourceRecord.person_id,
            ).where(key.in_(refs[start : start + 300]))
        ):
            if person is not None:
                owner[(src, stream, skey)] = person
    rows = [
        {"id": rid, "person_id": owner[ref]}
        for rid, (ref, person) in wanted.items()
        if ref in owner and owner[ref] != person
    ]
    return update_rows(session, SourceRecord.__table__, "id", rows)  # type: ignore[arg-type]


def _levels(result: Resolution, k: int) -> dict[str, str]:
    out = {}
    for c, comp in enumerate(result.model.comparisons):
        level = int(result.pairs.levels[k, c])
        out[comp.name] = "null" if level < 0 else comp.labels[level]
    return out


def sync_reviews(
    session: Session, record_id: IntArray, result: Resolution, *, full: bool
) -> dict[str, int]:
    """Open a review per doubtful pair; decided pairs stay decided (they are sticky)."""
    p = result.pairs
    wanted: dict[tuple[int, int], int] = {}
    for k in np.flatnonzero(p.decision == REVIEW).tolist():
        if p.reason[k] == "rejected_by_reviewer":
            continue  # a clerk already said no; nothing to ask
        a, b = int(record_id[p.left[k]]), int(record_id[p.right[k]])
        wanted[(min(a, b), max(a, b))] = k
    existing = {
        (left, right): (rid, status)
        for rid, left, right, status in session.execute(
            select(
                MatchReview.id,
                MatchReview.left_record_id,
                MatchReview.right_record_id,
                MatchReview.status,
            )
        )
    }
    counts: Counter[str] = Counter(
        dict.fromkeys(("reviews_opened", "reviews_kept_open", "reviews_already_decided"), 0)
    )
    now = utcnow()
    for pair, k in wanted.items():
        values = {
            "score": float(p.probability[k]),
            "match_weight": float(p.weight[k]),
            "reason": str(p.reason[k] or "grey_zone"),
            "levels": _levels(result, k),
        }
        found = existing.get(pair)
        if found is None:
            session.add(
                MatchReview(
                    kind="record_pair", left_record_id=pair[0], right_record_id=pair[1], **values
                )
            )
            counts["reviews_opened"] += 1
        elif found[1] in (ReviewStatus.OPEN, ReviewStatus.WITHDRAWN):
            session.execute(
                update(MatchReview)
                .where(MatchReview.id == found[0])
                .values(status=ReviewStatus.OPEN, updated_at=now, **values)
            )
            counts["reviews_kept_open"] += 1
        else:
            counts["reviews_already_decided"] += 1
    if full:
        stale = [
            rid
            for pair, (rid, st) in existing.items()
            if st == ReviewStatus.OPEN and pair not in wanted
        ]
        for start in range(0, len(stale), 500):
            session.execute(
                update(MatchReview)
                .where(MatchReview.id.in_(stale[start : start + 500]))
                .values(status=ReviewStatus.WITHDRAWN)
            )
        counts["reviews_withdrawn"] = len(stale)
    session.flush()
    return dict(counts)
