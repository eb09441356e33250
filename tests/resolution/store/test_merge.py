"""Manual merge and unmerge: everything follows the person, history is kept, runs obey."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import (
    Event,
    HouseholdMember,
    Person,
    PersonIdentifier,
    PersonStatus,
    SourceRecord,
    Task,
)
from canonical_model.resolution_state import PersonMergeLog, ResolutionConstraint
from canonical_model.store import transaction
from resolution import load_profile
from resolution.merge import MergeError, merge_persons, unmerge_person
from resolution.store import resolve_store
from tests.resolution.store.district import CASE, person_of

PROFILE = load_profile("cn_person")


def _records(s: Session, pid: int) -> set[int]:
    return set(s.scalars(select(SourceRecord.id).where(SourceRecord.person_id == pid)))


def _ids(s: Session, pid: int) -> set[str]:
    return set(
        s.scalars(
            select(PersonIdentifier.value).where(
                PersonIdentifier.person_id == pid, PersonIdentifier.kind == "resident_id"
            )
        )
    )


def test_merge_moves_everything_and_unmerge_restores_it(resolved: sessionmaker[Session]) -> None:
    with transaction(resolved) as s:
        a, b = person_of(s, "hukou", "G-HK"), person_of(s, "hukou", "C-HK")
        uid_a = s.get(Person, a).uid  # type: ignore[union-attr]
        records_a, records_b = _records(s, a), _records(s, b)
        event = Event(
            type="health.discharge",
            occurred_at=datetime(2025, 6, 2, tzinfo=UTC),
            person_id=a,
            source="health",
            source_ref="E-1",
        )
        s.add(event)
        s.flush()
        task = Task(category="visit", person_id=a, event_id=event.id, title="follow-up")
        s.add(task)
        s.flush()
        event_id, task_id = event.id, task.id
    with transaction(resolved) as s:
        absorbed, survivor = s.get(Person, a), s.get(Person, b)
        assert absorbed is not None
        assert survivor is not None
        log = merge_persons(s, PROFILE, absorbed, survivor, actor="clerk-3", reason="one woman")
        assert len(log.snapshot["records"]) == len(records_a)
    with resolved() as s:
        merged = s.get(Person, a)
        assert merged is not None
        assert (merged.status, merged.merged_into_id) == (PersonStatus.MERGED, b)
        assert _records(s, b) == records_a | records_b
        assert not _records(s, a)
        assert s.get(Event, event_id).person_id == b  # type: ignore[union-attr]
        assert s.get(Task, task_id).person_id == b  # type: ignore[union-attr]
        assert s.scalar(select(HouseholdMember.person_id).where(HouseholdMember.person_id == b))
        assert _ids(s, b) == {CASE.id_g, CASE.id_c}
        conflicts = s.get(Person, b).conflicts  # type: ignore[union-attr]
        assert {c["value"] for c in conflicts["resident_id"]} == {CASE.id_g, CASE.id_c}
    with transaction(resolved) as s:
        resolve_store(s)  # two valid IDs, yet the clerk's merge is not undone by a run
    with resolved() as s:
        assert _records(s, b) == records_a | records_b
        assert s.get(Person, a).status == PersonStatus.MERGED  # type: ignore[union-attr]
    with transaction(resolved) as s:
        absorbed = s.get(Person, a)
        assert absorbed is not None
        unmerge_person(s, absorbed, actor="clerk-4", reason="two women after all")
    with resolved() as s:
        restored = s.get(Person, a)
        assert restored is not None
        assert (restored.uid, restored.status, restored.merged_into_id) == (
            uid_a,
            PersonStatus.ACTIVE,
            None,
        )
        assert _records(s, a) == records_a
        assert _records(s, b) == records_b
        assert s.get(Event, event_id).person_id == a  # type: ignore[union-attr]
        assert s.get(Task, task_id).person_id == a  # type: ignore[union-attr]
        assert _ids(s, a) == {CASE.id_g}
        assert _ids(s, b) == {CASE.id_c}
        assert restored.name == "欧阳建国"
        assert "resident_id" not in s.get(Person, b).conflicts  # type: ignore[union-attr]
        history = s.execute(
            select(PersonMergeLog.action, PersonMergeLog.actor).order_by(PersonMergeLog.id)
        ).all()
        assert [tuple(h) for h in history] == [("merge", "clerk-3"), ("unmerge", "clerk-4")]
        kinds = dict(
            s.execute(
                select(ResolutionConstraint.kind, func.count())
                .where(ResolutionConstraint.active.is_(True))
                .group_by(ResolutionConstraint.kind)
            ).all()
        )
        assert kinds == {"cannot_link": 1}  # the merge's must-links are retired
    with transaction(resolved) as s:
        resolve_store(s)
    with resolved() as s:
        assert _records(s, a) == records_a
        assert _records(s, b) == records_b


def test_bad_merges_are_refused(resolved: sessionmaker[Session]) -> None:
    with transaction(resolved) as s:
        a, b = person_of(s, "hukou", "G-HK"), person_of(s, "hukou", "C-HK")
        pa, pb = s.get(Person, a), s.get(Person, b)
        assert pa is not None
        assert pb is not None
        with pytest.raises(MergeError, match="itself"):
            merge_persons(s, PROFILE, pa, pa, actor="clerk")
        with pytest.raises(MergeError, match="conflicting_ids"):
            merge_persons(s, PROFILE, pa, pb, actor="resolution", automatic=True)
        with pytest.raises(MergeError, match="not merged"):
            unmerge_person(s, pa, actor="clerk")
