"""The clerk's queue: pairs the engine would not decide alone, and what the clerk decided.

A decision is about two source records, not about the persons they happen to sit in
today, so it stays true after any later run: *accept* merges the two persons now and
leaves a must-link; *reject* leaves a cannot-link (and splits the person if the two
records already share one), so neither a full nor an incremental run ever joins them
again.  A decided item is never reopened by a run; only a clerk can decide it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from canonical_model import Person, SourceRecord, utcnow
from canonical_model.resolution_state import ConstraintKind, MatchReview, ReviewStatus
from resolution.merge import MergeError, _constraint, merge_persons, split_person
from resolution.profile import Profile

__all__ = ["ReviewError", "ReviewItem", "accept_review", "list_reviews", "reject_review"]


class ReviewError(ValueError):
    """A review decision that cannot be made; the message holds no personal data."""


@dataclass(frozen=True)
class ReviewItem:
    """What a queue listing shows: references and scores, never the records' contents."""

    uid: str
    status: str
    reason: str
    score: float
    match_weight: float
    left: str  # source/stream#record id: source keys can be ID numbers (户籍), so not those
    right: str
    left_person: str | None
    right_person: str | None
    levels: dict[str, Any]
    decided_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def list_reviews(
    session: Session, status: str | None = "open", limit: int = 50
) -> list[ReviewItem]:
    """Strongest first, so a clerk spends time where the model was nearly sure."""
    left, right = aliased(SourceRecord), aliased(SourceRecord)
    lp, rp = aliased(Person), aliased(Person)
    query = (
        select(
            MatchReview,
            left.source,
            left.stream,
            left.id,
            right.source,
            right.stream,
            right.id,
            lp.uid,
            rp.uid,
        )
        .join(left, left.id == MatchReview.left_record_id)
        .join(right, right.id == MatchReview.right_record_id)
        .outerjoin(lp, lp.id == left.person_id)
        .outerjoin(rp, rp.id == right.person_id)
        .order_by(MatchReview.score.desc(), MatchReview.id)
        .limit(limit)
    )
    if status:
        query = query.where(MatchReview.status == ReviewStatus(status))
    return [
        ReviewItem(
            uid=r.uid,
            status=str(r.status),
            reason=r.reason,
            score=round(r.score, 6),
            match_weight=round(r.match_weight, 3),
            left=f"{ls}/{lst}#{lk}",
            right=f"{rs}/{rst}#{rk}",
            left_person=lu,
            right_person=ru,
            levels=r.levels,
            decided_by=r.decided_by,
        )
        for r, ls, lst, lk, rs, rst, rk, lu, ru in session.execute(query)
    ]


def _item(session: Session, uid: str) -> MatchReview:
    item = session.scalars(select(MatchReview).where(MatchReview.uid == uid)).first()
    if item is None:
        raise ReviewError(f"no review item {uid}")
    if item.status in (ReviewStatus.ACCEPTED, ReviewStatus.REJECTED):
        raise ReviewError(f"review item {uid} was already {item.status}")
    return item


def _persons(session: Session, item: MatchReview) -> tuple[Person | None, Person | None]:
    def of(record_id: int) -> Person | None:
        pid = session.scalar(select(SourceRecord.person_id).where(SourceRecord.id == record_id))
        person = None if pid is None else session.get(Person, pid)
        while person is not None and person.merged_into_id is not None:
            person = session.get(Person, person.merged_into_id)
        return person

    return of(item.left_record_id), of(item.right_record_id)


def _decide(item: MatchReview, status: ReviewStatus, actor: str, note: str | None) -> None:
    item.status = status
    item.decided_by = actor
    item.decided_at = utcnow()
    item.updated_at = item.decided_at
    item.note = note


def accept_review(
    session: Session, profile: Profile, uid: str, *, actor: str, note: str | None = None
) -> dict[str, Any]:
    """The two records are one person: merge their persons (the smaller into the larger)."""
    item = _item(session, uid)
    left, right = _persons(session, item)
    merged = None
    if left is not None and right is not None and left.id != right.id:
        sizes = {
            p.id: session.query(SourceRecord).filter(SourceRecord.person_id == p.id).count()
            for p in (left, right)
        }
        survivor, absorbed = (left, right) if sizes[left.id] >= sizes[right.id] else (right, left)
        try:
            log = merge_persons(
                session,
                profile,
                absorbed,
                survivor,
                actor=actor,
                reason=note or "review accepted",
                review_id=item.id,
            )
        except MergeError as exc:
            raise ReviewError(str(exc)) from None
        merged = {"from": absorbed.uid, "into": survivor.uid, "log": log.uid}
    _decide(item, ReviewStatus.ACCEPTED, actor, note)
    session.add(
        _constraint(
            ConstraintKind.MUST_LINK,
            item.left_record_id,
            item.right_record_id,
            "review",
            actor,
            review_id=item.id,
        )
    )
    session.flush()
    return {"review": uid, "status": "accepted", "merged": merged}


def reject_review(
    session: Session, profile: Profile, uid: str, *, actor: str, note: str | None = None
) -> dict[str, Any]:
    """Two people: remember it for every later run; split them now if they share a person."""
    item = _item(session, uid)
    _decide(item, ReviewStatus.REJECTED, actor, note)
    session.add(
        _constraint(
            ConstraintKind.CANNOT_LINK,
            item.left_record_id,
            item.right_record_id,
            "review",
            actor,
            review_id=item.id,
        )
    )
    session.flush()
    left, right = _persons(session, item)
    split: list[str] = []
    if left is not None and right is not None and left.id == right.id:
        created = split_person(session, profile, left)
        split = [p.uid for p in (session.get(Person, pid) for pid in created) if p is not None]
    return {"review": uid, "status": "rejected", "split_into": split}
