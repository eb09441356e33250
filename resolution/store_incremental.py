"""Incremental resolution: new and changed records placed one by one, the population untouched.

Work is found without scanning the store: a record nobody has linked yet has no person
(``ix_source_record_unresolved``), and a record that changed left its previous version in
``source_record_history``, whose ids only grow — the watermark is the last history id
seen, re-read with a small overlap because ids are handed out before commits land.  Each
record is indexed first (so the next newcomer sees it), then matched with
:class:`~resolution.incremental.PersonIndex` over the store's index and the stored model:
a clean match joins the person (and, as a full run would, joins the other persons it
matches cleanly), the grey zone gets a new person and a review item, a non-match a new
person.  Batches commit separately; the watermark moves with the last one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import Person, PersonStatus, SourceRecord, SourceRecordHistory
from canonical_model.resolution_state import (
    ConstraintKind,
    MatchReview,
    PersonMergeLog,
    ResolutionConstraint,
    ResolutionEntry,
    ReviewStatus,
)
from canonical_model.store import transaction
from resolution.bulk import fetch_rows
from resolution.features import normalise_record
from resolution.incremental import MatchResult, PersonIndex
from resolution.merge import MergeError, merge_persons
from resolution.profile import Profile, load_profile
from resolution.state import active_model, advance, watermark
from resolution.store import AUTOMATIC_ACTOR, follow_person, link_dependents, resolve_store
from resolution.store_golden import refresh_persons
from resolution.store_index import StoreBackend, raw_rows, reindex_records
from resolution.store_read import canonical_columns, is_dependent

__all__ = [
    "Pending",
    "Placement",
    "index_records",
    "pending_records",
    "place_record",
    "resolve_incremental",
]

HISTORY_OVERLAP = 1_000
_SUBJECT = SourceRecord.canonical[("facts", "subject", "source_key")].as_string()
_CANONICAL = cast(Table, SourceRecord.__table__).c.canonical.type


@dataclass
class Pending:
    """A record waiting to be placed: the four columns placing it reads, not an ORM
    object (a batch would otherwise build, track and flush hundreds of them)."""

    id: int
    version: int
    person_id: int | None
    canonical: dict[str, Any]


@dataclass
class Placement:
    decision: str
    person_id: int
    reason: str = ""
    touched: set[int] = field(default_factory=set)


def _work(session: Session, history_mark: int, limit: int) -> list[int]:
    """Ids of records to place: never linked, or changed since they were indexed."""
    new = session.scalars(
        select(SourceRecord.id)
        .where(SourceRecord.person_id.is_(None), _SUBJECT.is_(None))
        .order_by(SourceRecord.id)
        .limit(limit)
    ).all()
    changed = session.scalars(
        select(SourceRecordHistory.source_record_id)
        .distinct()
        .join(SourceRecord, SourceRecord.id == SourceRecordHistory.source_record_id)
        .outerjoin(ResolutionEntry, ResolutionEntry.source_record_id == SourceRecord.id)
        .where(SourceRecordHistory.id > max(history_mark - HISTORY_OVERLAP, 0))
        .where(SourceRecord.person_id.is_not(None), _SUBJECT.is_(None))
        .where(
            (ResolutionEntry.version.is_(None)) | (ResolutionEntry.version != SourceRecord.version)
        )
        .limit(limit)
    ).all()
    return sorted({*new, *changed})


def _new_person(session: Session) -> int:
    """A person row with nothing but its defaults: the golden refresh fills it in (a Core
    insert: no ORM object to build, track and flush for a row nobody reads here)."""
    table = cast(Table, Person.__table__)
    return int(
        session.execute(
            insert(table).returning(table.c.id), {"status": PersonStatus.ACTIVE}
        ).scalar_one()
    )


def _link(session: Session, record: Pending, person: int) -> None:
    raw_rows(session, "UPDATE source_record SET person_id = ? WHERE id = ?", [person, record.id])
    record.person_id = person


def _must_partner(session: Session, record_id: int) -> int | None:
    """The person a clerk tied this record to, if any."""
    row = session.execute(
        select(SourceRecord.person_id)
        .join(
            ResolutionConstraint,
            (
                (ResolutionConstraint.left_record_id == record_id)
                & (ResolutionConstraint.right_record_id == SourceRecord.id)
            )
            | (
                (ResolutionConstraint.right_record_id == record_id)
                & (ResolutionConstraint.left_record_id == SourceRecord.id)
            ),
        )
        .where(ResolutionConstraint.active.is_(True))
        .where(ResolutionConstraint.kind == ConstraintKind.MUST_LINK)
        .where(SourceRecord.person_id.is_not(None))
        .limit(1)
    ).first()
    return None if row is None or row[0] is None else int(row[0])


def _open_review(session: Session, index: PersonIndex, record_id: int, result: MatchResult) -> None:
    best = next(c for c in result.candidates if c.person_id == result.person_id)
    a, b = sorted((record_id, best.record))
    existing = session.scalars(
        select(MatchReview).where(MatchReview.left_record_id == a, MatchReview.right_record_id == b)
    ).first()
    if existing is not None and existing.status in (ReviewStatus.ACCEPTED, ReviewStatus.REJECTED):
        return  # sticky: a clerk already decided this pair
    levels = {
        comp.name: "null" if level < 0 else comp.labels[level]
        for comp, level in zip(index.model.comparisons, best.levels, strict=True)
    }
    values = {
        "score": best.match_probability,
        "match_weight": best.match_weight,
        "reason": result.reason or "grey_zone",
        "levels": levels,
        "person_id": int(best.person_id),
    }
    if existing is None:
        session.add(
            MatchReview(kind="person_record", left_record_id=a, right_record_id=b, **values)
        )
    else:
        existing.status = ReviewStatus.OPEN
        for k, v in values.items():
            setattr(existing, k, v)


def index_records(
    session: Session, profile: Profile, records: Sequence[Pending]
) -> dict[int, dict[str, str | None]]:
    """Index a batch before placing any of it, so every placement in the batch scores with
    the term counts a full run over the same records would use."""
    out = {r.id: normalise_record(profile, canonical_columns(r.canonical)) for r in records}
    reindex_records(session, profile, [(r.id, r.version, out[r.id]) for r in records])
    return out


def place_record(
    session: Session,
    index: PersonIndex,
    record: Pending,
    values: Mapping[str, str | None],
    *,
    automatic_merges: bool = True,
) -> Placement:
    """Link one indexed record to a person: the core of every incremental run.

    The caller refreshes the golden records of ``touched`` once, after the placement: an
    automatic merge inside it leaves the survivor's refresh to that call."""
    profile = index.profile
    old = record.person_id
    tied = _must_partner(session, record.id) if old is not None else None
    result = index.match_values(values, record=record.id)
    touched: set[int] = set() if old is None else {old}
    if tied is not None:
        target, decision = tied, "must_link"
    elif result.decision == "match":
        assert result.person_id is not None
        target, decision = int(result.person_id), "match"
    else:
        alone = old is not None and not session.scalar(
            select(func.count()).where(
                SourceRecord.person_id == old, SourceRecord.id != record.id, _SUBJECT.is_(None)
            )
        )
        target = old if alone and old is not None else _new_person(session)
        decision = result.decision
        if result.decision == "review":
            _open_review(session, index, record.id, result)
    if target != old:
        _link(session, record, target)
    touched.add(target)
    if (
        old is not None
        and old != target
        and not session.scalar(
            select(func.count()).where(SourceRecord.person_id == old, _SUBJECT.is_(None))
        )
    ):
        _absorb(session, old, target)
    if decision == "match" and automatic_merges:
        for other in result.also:
            touched |= _auto_merge(session, profile, int(other), target)
    return Placement(decision, target, result.reason, touched)


def _absorb(session: Session, old: int, new: int) -> None:
    """A person left with no record of its own: what still hangs off it (records about
    its records, events, tasks) goes where its last record went."""
    session.execute(update(SourceRecord).where(SourceRecord.person_id == old).values(person_id=new))
    follow_person(session, old, new)
    person = session.get(Person, old)
    if person is not None and person.status != PersonStatus.MERGED:
        person.status = PersonStatus.MERGED
        person.merged_into_id = new
        session.add(
            PersonMergeLog(
                action="merge",
                from_person_id=old,
                into_person_id=new,
                actor=AUTOMATIC_ACTOR,
                automatic=True,
                reason="its last record moved",
                snapshot={"records": []},
            )
        )


def _auto_merge(session: Session, profile: Profile, other: int, target: int) -> set[int]:
    a, b = session.get(Person, other), session.get(Person, target)
    if a is None or b is None or a.id == b.id:
        return set()
    try:
        merge_persons(
            session,
            profile,
            a,
            b,
            actor=AUTOMATIC_ACTOR,
            automatic=True,
            reason="a new record matches both",
            refresh=False,  # the survivor is in the placement's ``touched``
        )
    except MergeError:
        return set()
    return {b.id}


def pending_records(session: Session, ids: Sequence[int]) -> list[Pending]:
    """The person-bearing records among ``ids``, as placing them reads them (straight at
    the driver: a sync-triggered placement reads one)."""
    wanted = sorted(set(ids))
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(wanted), 5_000):
        chunk = wanted[start : start + 5_000]
        rows += fetch_rows(
            session,
            "SELECT id, version, person_id, canonical FROM source_record "
            f"WHERE id IN ({', '.join('?' * len(chunk))}) ORDER BY id",
            chunk,
            (None, None, None, _CANONICAL),
        )
    return [Pending(*row) for row in rows if not is_dependent(row[3])]


def resolve_incremental(
    factory: sessionmaker[Session],
    profile: Profile | str = "cn_person",
    *,
    batch_size: int = 500,
    limit: int = 1_000_000,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Place every new or changed record; bootstraps with a full run when no model exists."""
    prof = load_profile(profile) if isinstance(profile, str) else profile
    started = time.perf_counter()
    with transaction(factory) as session:
        model = active_model(session, prof)
        if model is None:
            return resolve_store(session, prof)
        state = watermark(session, prof, lock=True)
        mark = int((state.cursor or {}).get("history_id", 0))
        top = int(session.scalar(select(func.max(SourceRecordHistory.id))) or 0)
        work = _work(session, mark, limit)
    counts: dict[str, int] = {"records": len(work)}
    # index everything first: every placement then scores with the same term counts
    values: dict[int, dict[str, str | None]] = {}
    for start in range(0, len(work), batch_size):
        with transaction(factory) as session:
            values.update(
                index_records(
                    session, prof, pending_records(session, work[start : start + batch_size])
                )
            )
    backend: StoreBackend | None = None
    for start in range(0, len(work), batch_size):
        with transaction(factory) as session:
            backend = (
                StoreBackend(session, prof, model) if backend is None else backend.bind(session)
            )
            index = PersonIndex(backend)
            touched: set[int] = set()
            for record in pending_records(session, work[start : start + batch_size]):
                placed = place_record(session, index, record, values[record.id])
                counts[placed.decision] = counts.get(placed.decision, 0) + 1
                touched |= placed.touched
            live = session.scalars(
                select(Person.id).where(
                    Person.id.in_(touched), Person.status != PersonStatus.MERGED
                )
            ).all()
            refresh_persons(session, live, geography=backend.geography)
        if progress is not None:
            progress({"done": min(start + batch_size, len(work)), "of": len(work)})
    with transaction(factory) as session:
        counts["dependent_records_linked"] = link_dependents(session, only_unlinked=True)
        state = watermark(session, prof, lock=True)
        advance(state, history_id=max(top, mark), mode="incremental")
    return {"mode": "incremental", **counts, "seconds": round(time.perf_counter() - started, 2)}
