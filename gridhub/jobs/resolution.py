"""Resolution jobs: the master person index over the store, its review queue, merges.

Called by ``dags/identity_resolution.py``, ``gridhub resolve --store`` and
``gridhub review …``; every function returns a JSON-serialisable summary of counts and
uids, never personal data, so it can be an XCom or a CLI line.  The names below are a
stable API (the demo and the DAG call them):

- ``resolve_store(database_url=None, *, full=False, refit=False, profile="cn_person",
  batch_size=500) -> dict`` — place new and changed records (or everything, ``full``).
  The summary always has ``mode`` (``incremental`` | ``full``), ``records`` (placed by
  this run; a full run places every record), and the store's state after it:
  ``persons`` (live persons), ``merges`` (merges in force: merged persons not
  unmerged), ``review_queue`` (open review items), ``insufficient_identifiers`` (live
  persons so flagged), plus ``run`` (the run's own counts and timings).  ``resolve``
  is the same function under its older name.
- ``store_summary(database_url=None) -> dict`` — those four state figures alone.
- ``list_queue``, ``accept``, ``reject`` — the review queue; ``merge``, ``unmerge`` —
  manual merges by person uid.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from canonical_model import Person, PersonStatus
from canonical_model.resolution_state import MatchReview, PersonMergeLog, ReviewStatus
from canonical_model.store import transaction
from gridhub.wiring import sessions
from resolution import load_profile
from resolution.merge import find_person, merge_persons, unmerge_person
from resolution.review import accept_review, list_reviews, reject_review
from resolution.store import resolve_store as _resolve_full
from resolution.store_incremental import resolve_incremental

__all__ = [
    "accept",
    "list_queue",
    "merge",
    "reject",
    "resolve",
    "resolve_store",
    "store_summary",
    "unmerge",
]

INSUFFICIENT_FLAG = "insufficient_identifiers"


def resolve_store(
    database_url: str | None = None,
    *,
    full: bool = False,
    refit: bool = False,
    profile: str = "cn_person",
    batch_size: int = 500,
) -> dict[str, Any]:
    """Place new and changed records (``full``: re-resolve everything in one transaction;
    ``refit``: fit a new model and refreeze term frequencies, implies ``full``); the first
    run on a store without a model is always full.  See the module docstring for keys."""
    factory = sessions(database_url)
    if full or refit:
        with transaction(factory) as session:
            run = _resolve_full(session, load_profile(profile), refit=refit)
    else:
        run = resolve_incremental(factory, profile, batch_size=batch_size)
    with factory() as session:
        totals = _totals(session)
    return {"mode": run["mode"], "records": run["records"], **totals, "run": run}


resolve = resolve_store


def store_summary(database_url: str | None = None) -> dict[str, int]:
    """The master person index as it stands: persons, merges, review queue, insufficient."""
    with sessions(database_url)() as session:
        return _totals(session)


def _totals(session: Session) -> dict[str, int]:
    def count(stmt: Any) -> int:
        return int(session.scalar(stmt) or 0)

    live = Person.status != PersonStatus.MERGED
    # flags is a short JSON list; its text holds the quoted flag on SQLite and PostgreSQL
    flagged = cast(Person.flags, Text).contains(f'"{INSUFFICIENT_FLAG}"')
    return {
        "persons": count(select(func.count()).select_from(Person).where(live)),
        "merges": count(
            select(func.count())
            .select_from(PersonMergeLog)
            .where(PersonMergeLog.action == "merge", PersonMergeLog.undone_by_id.is_(None))
        ),
        "review_queue": count(
            select(func.count())
            .select_from(MatchReview)
            .where(MatchReview.status == ReviewStatus.OPEN)
        ),
        "insufficient_identifiers": count(
            select(func.count()).select_from(Person).where(live, flagged)
        ),
    }


def list_queue(
    database_url: str | None = None, *, status: str | None = "open", limit: int = 50
) -> list[dict[str, Any]]:
    with sessions(database_url)() as session:
        return [item.as_dict() for item in list_reviews(session, status, limit)]


def accept(
    uid: str,
    *,
    actor: str,
    note: str | None = None,
    database_url: str | None = None,
    profile: str = "cn_person",
) -> dict[str, Any]:
    with transaction(sessions(database_url)) as session:
        return accept_review(session, load_profile(profile), uid, actor=actor, note=note)


def reject(
    uid: str,
    *,
    actor: str,
    note: str | None = None,
    database_url: str | None = None,
    profile: str = "cn_person",
) -> dict[str, Any]:
    with transaction(sessions(database_url)) as session:
        return reject_review(session, load_profile(profile), uid, actor=actor, note=note)


def merge(
    absorbed_uid: str,
    survivor_uid: str,
    *,
    actor: str,
    reason: str | None = None,
    database_url: str | None = None,
    profile: str = "cn_person",
) -> dict[str, Any]:
    with transaction(sessions(database_url)) as session:
        absorbed = find_person(session, absorbed_uid)
        survivor = find_person(session, survivor_uid)
        log = merge_persons(
            session, load_profile(profile), absorbed, survivor, actor=actor, reason=reason
        )
        return {
            "merged": absorbed.uid,
            "into": survivor.uid,
            "log": log.uid,
            "records_moved": len(log.snapshot.get("records", [])),
        }


def unmerge(
    uid: str, *, actor: str, reason: str | None = None, database_url: str | None = None
) -> dict[str, Any]:
    with transaction(sessions(database_url)) as session:
        person = find_person(session, uid)
        log = unmerge_person(session, person, actor=actor, reason=reason)
        return {
            "restored": person.uid,
            "log": log.uid,
            "records_restored": len(log.snapshot.get("records", [])),
        }
