"""A newcomer that matches two persons cleanly: a full run would have made them one.

G's four records are split into two persons by hand (what a full run fitted on less data
could leave behind); a fifth record of G, placed incrementally, matches both cleanly, so
the placement merges them — automatically, logged as such — unless a valid ID or a
clerk's "these are two people" forbids it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import Person, PersonStatus, SourceRecord
from canonical_model.resolution_state import (
    ConstraintKind,
    PersonMergeLog,
    ResolutionConstraint,
)
from canonical_model.store import transaction
from resolution.store_golden import GOLDEN_COLUMNS, refresh_persons
from resolution.store_incremental import resolve_incremental
from tests.resolution.store.district import CASE, person_of


def _split_g(s: Session) -> tuple[int, int]:
    """G's clinic and water records moved to a person of their own; both golden records
    refreshed, as a run would leave them."""
    first = person_of(s, "hukou", "G-HK")
    second = Person(status=PersonStatus.ACTIVE)
    s.add(second)
    s.flush()
    s.execute(
        update(SourceRecord)
        .where(SourceRecord.source_key.in_(("G-PT", "G-SD")))
        .values(person_id=second.id)
    )
    refresh_persons(s, [first, second.id])
    return first, second.id


def _newcomer(s: Session) -> None:
    """A second clinic record of G: G-PT's values under another key, a day later."""
    (row,) = s.execute(
        select(SourceRecord.__table__).where(SourceRecord.source_key == "G-PT")
    ).mappings()
    copy = {k: v for k, v in row.items() if k not in ("id", "person_id")}
    copy |= {"source_key": "G-PT2", "updated_at": row["updated_at"] + timedelta(days=1)}
    s.execute(insert(SourceRecord), [copy])


def _golden(s: Session, pid: int) -> dict[str, Any]:
    person = s.get(Person, pid)
    assert person is not None
    return {f: getattr(person, f) for f in GOLDEN_COLUMNS}


def test_a_newcomer_matching_two_persons_merges_them(resolved: sessionmaker[Session]) -> None:
    with transaction(resolved) as s:
        first, second = _split_g(s)
        _newcomer(s)
    summary = resolve_incremental(resolved)
    assert summary["match"] == 1
    with transaction(resolved) as s:
        survivor = person_of(s, "health", "G-PT2")
        keys = ("G-HK", "G-MZ", "G-PT", "G-SD", "G-PT2")
        assert {person_of(s, src, k) for src, k in zip(
            ("hukou", "civil_affairs", "health", "utility", "health"), keys, strict=True
        )} == {survivor}  # fmt: skip
        absorbed = first if survivor == second else second
        gone = s.get(Person, absorbed)
        assert gone is not None
        assert gone.status == PersonStatus.MERGED
        assert gone.merged_into_id == survivor
        log = s.scalars(select(PersonMergeLog).where(PersonMergeLog.from_person_id == absorbed))
        (entry,) = log.all()
        assert (entry.into_person_id, entry.automatic) == (survivor, True)
        assert entry.reason == "a new record matches both"
        # the survivor's golden record already counts every record: refreshing it again
        # changes nothing
        before = _golden(s, survivor)
        refresh_persons(s, [survivor])
        assert _golden(s, survivor) == before
        assert before["name"] == "欧阳建国"
        assert before["resident_id"] == CASE.id_g


def test_a_clerks_no_keeps_the_two_persons_apart(resolved: sessionmaker[Session]) -> None:
    with transaction(resolved) as s:
        first, second = _split_g(s)
        ids = dict(
            s.execute(
                select(SourceRecord.source_key, SourceRecord.id).where(
                    SourceRecord.source_key.in_(("G-HK", "G-PT"))
                )
            ).all()
        )
        s.execute(
            insert(ResolutionConstraint),
            [
                {
                    "kind": ConstraintKind.CANNOT_LINK,
                    "left_record_id": min(ids.values()),
                    "right_record_id": max(ids.values()),
                    "origin": "review",
                    "created_by": "clerk-7",
                }
            ],
        )
        _newcomer(s)
    resolve_incremental(resolved)
    with resolved() as s:
        assert person_of(s, "health", "G-PT2") in {first, second}
        for pid in (first, second):
            person = s.get(Person, pid)
            assert person is not None
            assert person.status != PersonStatus.MERGED
        assert s.scalars(select(PersonMergeLog)).first() is None
