"""Clerks' decisions: accept merges, reject splits, and both stick through every later run."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import Person, PersonStatus, SourceRecord
from canonical_model.resolution_state import (
    MatchReview,
    PersonMergeLog,
    ResolutionConstraint,
    ReviewStatus,
)
from canonical_model.store import transaction
from resolution import load_profile
from resolution.review import ReviewError, accept_review, list_reviews, reject_review
from resolution.store import resolve_store
from resolution.store_incremental import resolve_incremental
from tests.resolution.store.district import person_of
from tests.resolution.store.test_runs import _new_version

PROFILE = load_profile("cn_person")


def _record(s: Session, key: str) -> int:
    rid = s.scalar(select(SourceRecord.id).where(SourceRecord.source_key == key))
    assert rid is not None
    return int(rid)


def _review_uid(s: Session, a: str, b: str) -> str:
    x, y = sorted((_record(s, a), _record(s, b)))
    uid = s.scalar(
        select(MatchReview.uid).where(
            MatchReview.left_record_id == x, MatchReview.right_record_id == y
        )
    )
    assert uid is not None
    return uid


def test_the_queue_lists_references_and_scores_only(resolved: sessionmaker[Session]) -> None:
    with resolved() as s:
        items = list_reviews(s)
        wanted = {f"hukou/persons#{_record(s, 'K-HK')}", f"health/patients#{_record(s, 'K-PT')}"}
    assert items
    assert all(i.status == "open" for i in items)
    assert [i.score for i in items] == sorted((i.score for i in items), reverse=True)
    collision = next(i for i in items if i.reason == "id_name_mismatch")
    assert {collision.left, collision.right} == wanted
    shown = str([i.as_dict() for i in items])
    assert "诸葛" not in shown  # no names
    assert "33010619" not in shown  # and no ID numbers, not even as the register's key


def test_accept_merges_and_every_later_run_keeps_it(resolved: sessionmaker[Session]) -> None:
    with transaction(resolved) as s:
        uid = _review_uid(s, "K-HK", "K-PT")
        out = accept_review(s, PROFILE, uid, actor="clerk-7", note="same man, new name")
    assert out["merged"] is not None
    with resolved() as s:
        owner = person_of(s, "hukou", "K-HK")
        assert person_of(s, "health", "K-PT") == owner
        log = s.scalars(select(PersonMergeLog).where(PersonMergeLog.review_id.is_not(None))).one()
        assert (log.actor, log.automatic, log.into_person_id) == ("clerk-7", False, owner)
    with transaction(resolved) as s:
        resolve_store(s)  # the guard would hold the pair apart; the clerk's word wins
    with resolved() as s:
        assert person_of(s, "health", "K-PT") == person_of(s, "hukou", "K-HK")
        review = s.scalars(select(MatchReview).where(MatchReview.uid == uid)).one()
        assert (review.status, review.decided_by) == (ReviewStatus.ACCEPTED, "clerk-7")
    with transaction(resolved) as s, pytest.raises(ReviewError, match="already accepted"):
        reject_review(s, PROFILE, uid, actor="clerk-8")


def test_reject_splits_and_no_run_merges_the_pair_again(resolved: sessionmaker[Session]) -> None:
    """The register and the clinic agree on everything, so the engine merges them; a
    clerk says they are two people.  Neither a full nor an incremental run undoes that."""
    with transaction(resolved) as s:
        a, b = sorted((_record(s, "G-HK"), _record(s, "G-PT")))
        item = MatchReview(
            kind="record_pair",
            left_record_id=a,
            right_record_id=b,
            score=1.0,
            match_weight=50.0,
            reason="grey_zone",
        )
        s.add(item)
        s.flush()
        out = reject_review(s, PROFILE, item.uid, actor="clerk-7")
    assert len(out["split_into"]) == 1
    with resolved() as s:
        register, clinic = person_of(s, "hukou", "G-HK"), person_of(s, "health", "G-PT")
        assert register != clinic
        assert s.scalar(select(ResolutionConstraint.kind)) == "cannot_link"
    with transaction(resolved) as s:
        resolve_store(s)
    with resolved() as s:
        assert person_of(s, "hukou", "G-HK") == register  # same uid kept the register
        assert person_of(s, "health", "G-PT") != register
        status = s.scalar(select(MatchReview.status).where(MatchReview.uid == item.uid))
        assert status == ReviewStatus.REJECTED  # not reopened, not withdrawn
    with transaction(resolved) as s:  # the clinic's record changes: placed again, still apart
        _new_version(
            s,
            "G-PT",
            name="欧阳建国",
            id_number=_id_g(s),
            gender="male",
            phone="13900000077",
            address="浙江省杭州市西湖区文三路478号2幢1单元301室",
        )
    resolve_incremental(resolved)
    with resolved() as s:
        assert person_of(s, "health", "G-PT") != person_of(s, "hukou", "G-HK")
        person = s.get(Person, person_of(s, "health", "G-PT"))
        assert person is not None
        assert person.status == PersonStatus.ACTIVE


def _id_g(s: Session) -> str:
    value = s.scalar(select(Person.resident_id).where(Person.id == person_of(s, "hukou", "G-HK")))
    assert value is not None
    return value
