"""Merging and unmerging persons by hand, with history that can always be walked back.

A merge moves everything that hangs off a person — source records, identifiers,
household membership, events, tasks — to the survivor, marks the absorbed person
``merged`` (never deleted: its uid stays resolvable), and writes a ``PersonMergeLog``
entry whose snapshot says exactly what moved.  An unmerge reads that snapshot and puts
it all back under the same uid.  A manual merge also leaves must-link constraints, so no
later run, full or incremental, separates what a clerk joined; an unmerge leaves a
cannot-link, so no run joins them again on its own.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from canonical_model import (
    Event,
    HouseholdMember,
    Person,
    PersonFieldLineage,
    PersonIdentifier,
    PersonStatus,
    SourceRecord,
    Task,
)
from canonical_model.resolution_state import (
    ConstraintKind,
    PersonMergeLog,
    ResolutionConstraint,
    ResolutionEntry,
)
from resolution.engine import resolve
from resolution.profile import Profile
from resolution.state import active_model, load_constraints
from resolution.store_golden import GOLDEN_COLUMNS, refresh_persons
from resolution.store_index import freeze_terms, raw_rows
from resolution.store_read import read_table

__all__ = [
    "MergeError",
    "find_person",
    "merge_persons",
    "split_person",
    "unmerge_person",
]


class MergeError(ValueError):
    """A merge or unmerge that cannot be done; the message says why (no personal data)."""


def find_person(session: Session, uid: str) -> Person:
    person = session.scalars(select(Person).where(Person.uid == uid)).first()
    if person is None:
        raise MergeError(f"no person with uid {uid}")
    return person


def _column(session: Session, sql: str, *params: Any) -> list[Any]:
    return [row[0] for row in raw_rows(session, sql, params)]


def _records(session: Session, person_id: int) -> list[int]:
    return _column(
        session, "SELECT id FROM source_record WHERE person_id = ? ORDER BY id", person_id
    )


def _anchor(session: Session, person_id: int) -> int | None:
    """The person's first indexed record: one end of every constraint about the person."""
    first = _column(
        session,
        "SELECT s.id FROM source_record s JOIN resolution_entry e ON e.source_record_id = s.id "
        "WHERE s.person_id = ? ORDER BY s.id LIMIT 1",
        person_id,
    )
    return first[0] if first else None


def _refusal(session: Session, profile: Profile, a: int, b: int) -> str | None:
    """Why an automatic merge of ``a`` and ``b`` must not happen, if it must not.

    Two statements straight at the driver, whatever the store holds: a placement that
    bridges two persons runs this inside its own latency, so the clerks' constraints are
    asked about these two persons' records only, never loaded whole."""
    names = [f.name for f in profile.features]
    rows = raw_rows(
        session,
        "SELECT s.person_id, e.features FROM source_record s "
        "JOIN resolution_entry e ON e.source_record_id = s.id WHERE s.person_id IN (?, ?)",
        [a, b],
    )
    held = [(int(p), json.loads(f) if isinstance(f, str) else f) for p, f in rows]
    for feature in profile.conflict_features:
        k = names.index(feature)
        ids: dict[int, set[str]] = {a: set(), b: set()}
        for person, features in held:
            if features[k] is not None:
                ids[person].add(str(features[k]))
        if ids[a] and ids[b] and ids[a] != ids[b]:
            return "conflicting_ids"
    # each constraint once, from its left record: both directions are in the IN lists
    rejected = raw_rows(
        session,
        "SELECT 1 FROM source_record l "
        "JOIN resolution_constraint c ON c.left_record_id = l.id "
        "JOIN source_record r ON r.id = c.right_record_id "
        "WHERE l.person_id IN (?, ?) AND r.person_id IN (?, ?) AND l.person_id <> r.person_id "
        "AND c.active = ? AND c.kind = ? LIMIT 1",
        [a, b, a, b, True, ConstraintKind.CANNOT_LINK.value],
    )
    return "rejected_by_reviewer" if rejected else None


def _snapshot(session: Session, person: Person) -> dict[str, Any]:
    """What a merge moves away from ``person``, for an unmerge to put back (read straight
    at the driver, like the rest of what an automatic merge inside a placement reads)."""
    pid = person.id
    golden = {f: getattr(person, f) for f in GOLDEN_COLUMNS}
    golden["birth_date"] = golden["birth_date"].isoformat() if golden["birth_date"] else None
    golden["status"] = str(golden["status"])
    golden["gender"] = str(golden["gender"])

    def rows(sql: str) -> list[list[Any]]:
        return [list(row) for row in raw_rows(session, sql, [pid])]

    return {
        "person": golden,
        "records": _records(session, pid),
        "identifiers": rows(
            "SELECT kind, value, source_record_id FROM person_identifier WHERE person_id = ?"
        ),
        "households": rows(
            "SELECT household_id, relation FROM household_member WHERE person_id = ?"
        ),
        "lineage": rows(
            "SELECT field, source_record_id, rule FROM person_field_lineage WHERE person_id = ?"
        ),
    }


def merge_persons(
    session: Session,
    profile: Profile,
    absorbed: Person,
    survivor: Person,
    *,
    actor: str,
    reason: str | None = None,
    automatic: bool = False,
    review_id: int | None = None,
    refresh: bool = True,
) -> PersonMergeLog:
    """Merge ``absorbed`` into ``survivor``; an automatic merge refuses what a clerk or a
    valid ID forbids, a manual one is the clerk's call and leaves must-links behind.
    ``refresh=False`` leaves the survivor's golden record to the caller: a placement
    refreshes every person it touched once, after all its merges."""
    from resolution.store import follow_person

    if absorbed.id == survivor.id:
        raise MergeError("a person cannot be merged into itself")
    for p in (absorbed, survivor):
        if p.status == PersonStatus.MERGED:
            raise MergeError(f"person {p.uid} is already merged into another person")
    if automatic and (why := _refusal(session, profile, absorbed.id, survivor.id)):
        raise MergeError(f"automatic merge refused: {why}")
    snapshot = _snapshot(session, absorbed)
    anchor = _anchor(session, survivor.id)
    session.execute(
        update(SourceRecord)
        .where(SourceRecord.person_id == absorbed.id)
        .values(person_id=survivor.id)
    )
    moved = follow_person(session, absorbed.id, survivor.id)
    snapshot.update(moved)
    for table in (PersonIdentifier, HouseholdMember, PersonFieldLineage):
        session.execute(delete(table).where(table.person_id == absorbed.id))
    absorbed.status = PersonStatus.MERGED
    absorbed.merged_into_id = survivor.id
    log = PersonMergeLog(
        action="merge",
        from_person_id=absorbed.id,
        into_person_id=survivor.id,
        actor=actor,
        automatic=automatic,
        reason=reason,
        review_id=review_id,
        snapshot=snapshot,
    )
    session.add(log)
    session.flush()
    if not automatic and anchor is not None:
        indexed = set(
            session.scalars(
                select(ResolutionEntry.source_record_id).where(
                    ResolutionEntry.source_record_id.in_(snapshot["records"])
                )
            )
        )
        for rid in sorted(indexed):
            session.add(_constraint(ConstraintKind.MUST_LINK, rid, anchor, "merge", actor, log.id))
    if refresh:
        refresh_persons(session, [survivor.id])
    return log


def _constraint(
    kind: ConstraintKind,
    a: int,
    b: int,
    origin: str,
    actor: str,
    log_id: int | None = None,
    review_id: int | None = None,
) -> ResolutionConstraint:
    return ResolutionConstraint(
        kind=kind,
        left_record_id=min(a, b),
        right_record_id=max(a, b),
        origin=origin,
        created_by=actor,
        merge_log_id=log_id,
        review_id=review_id,
    )


def unmerge_person(
    session: Session, absorbed: Person, *, actor: str, reason: str | None = None
) -> PersonMergeLog:
    """Undo the merge that absorbed ``absorbed``: same uid, its records, events and tasks
    back; the two are never merged again automatically."""
    log = session.scalars(
        select(PersonMergeLog)
        .where(PersonMergeLog.from_person_id == absorbed.id, PersonMergeLog.action == "merge")
        .where(PersonMergeLog.undone_by_id.is_(None))
        .order_by(PersonMergeLog.id.desc())
        .limit(1)
    ).first()
    if log is None or absorbed.status != PersonStatus.MERGED:
        raise MergeError(f"person {absorbed.uid} is not merged into anyone")
    survivor_id = log.into_person_id
    snap = log.snapshot or {}
    records = [int(r) for r in snap.get("records", [])]
    if records:
        session.execute(
            update(SourceRecord).where(SourceRecord.id.in_(records)).values(person_id=absorbed.id)
        )
    for name, table in (("events", Event), ("tasks", Task)):
        ids = [int(i) for i in snap.get(name, [])]
        if ids:
            session.execute(update(table).where(table.id.in_(ids)).values(person_id=absorbed.id))
    golden = snap.get("person", {})
    absorbed.status = PersonStatus(golden.get("status") or PersonStatus.ACTIVE)
    if absorbed.status == PersonStatus.MERGED:
        absorbed.status = PersonStatus.ACTIVE
    absorbed.merged_into_id = None
    session.execute(
        update(ResolutionConstraint)
        .where(ResolutionConstraint.merge_log_id == log.id)
        .values(active=False)
    )
    undo = PersonMergeLog(
        action="unmerge",
        from_person_id=absorbed.id,
        into_person_id=survivor_id,
        actor=actor,
        reason=reason,
        undoes_id=log.id,
        snapshot={"records": records},
    )
    session.add(undo)
    session.flush()
    log.undone_by_id = undo.id
    a, b = _anchor(session, absorbed.id), _anchor(session, survivor_id)
    if a is not None and b is not None:
        session.add(_constraint(ConstraintKind.CANNOT_LINK, a, b, "unmerge", actor, undo.id))
    refresh_persons(session, [absorbed.id, survivor_id])
    if not records:  # a person with no records keeps the golden fields it had
        for f in GOLDEN_COLUMNS:
            if f in golden and f != "status":
                value = golden[f]
                if f == "birth_date" and value:
                    value = date.fromisoformat(value)
                setattr(absorbed, f, value)
    session.flush()
    return undo


def split_person(session: Session, profile: Profile, person: Person) -> list[int]:
    """Re-cluster one person's records under the current constraints (after a clerk
    rejected a pair inside it); the largest part keeps the uid.  Returns new person ids."""
    from resolution.store import assign_persons, link_dependents

    model = active_model(session, profile)
    store = read_table(session, profile, where=SourceRecord.person_id == person.id)
    if store.table.n < 2:
        return []
    if model is not None:
        freeze_terms(session, profile, store)
    ids = {int(r): i for i, r in enumerate(store.record_id.tolist())}
    cons = load_constraints(session)

    def rows(pairs: list[tuple[int, int]]) -> tuple[Any, Any]:
        kept = [(ids[a], ids[b]) for a, b in pairs if a in ids and b in ids]
        arr = np.asarray(kept, dtype=np.int64).reshape(-1, 2)
        return arr[:, 0], arr[:, 1]

    result = resolve(
        store.table, profile, model=model, must_link=rows(cons.must), cannot_link=rows(cons.cannot)
    )
    person_of, _ = assign_persons(session, store, result.person)
    for rid, pid in zip(store.record_id.tolist(), person_of.tolist(), strict=True):
        if pid != person.id:
            session.execute(
                update(SourceRecord).where(SourceRecord.id == rid).values(person_id=pid)
            )
    link_dependents(session, only_unlinked=False)
    created = sorted({int(p) for p in person_of.tolist()} - {person.id})
    refresh_persons(session, [person.id, *created])
    return created
