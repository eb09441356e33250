"""What a resolution run reads before it starts: the fitted model, the watermark, decisions.

Kept apart from the runs so the full and the incremental path, the review queue and the
merge tools all agree on where these live: the model in ``resolution_model`` (so a second
machine scores exactly like the first), the watermark in ``sync_state`` under source
``resolution`` (the hub's one API for "where did I stop"), and clerks' decisions in
``resolution_constraint``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from canonical_model import SyncState, utcnow
from canonical_model.resolution_state import (
    ConstraintKind,
    ResolutionConstraint,
    ResolutionModel,
)
from resolution.model import Model
from resolution.profile import Profile

__all__ = [
    "WATERMARK_SOURCE",
    "Constraints",
    "active_model",
    "advance",
    "features_current",
    "fingerprint",
    "load_constraints",
    "save_model",
    "stable_hash",
    "text_hash",
    "watermark",
]

WATERMARK_SOURCE = "resolution"


def stable_hash(*parts: Any) -> int:
    """A signed 63-bit hash of ``parts``: the same on every machine and every run, so index
    rows written by one run are found by the next (Python's ``hash`` is salted)."""
    return text_hash("\x1f".join("\x00" if p is None else str(p) for p in parts))


def text_hash(text: str) -> int:
    """``stable_hash`` of parts already joined (by ``\\x1f``, ``None`` as ``\\x00``): a full
    run hashes millions of block keys that share their leading parts."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


def fingerprint(profile: Profile) -> str:
    """What stored features and weights depend on: a profile edit that changes it makes
    both stale (a feature list in another order, a comparison with other levels)."""
    parts = (profile.features, profile.comparisons, profile.blocking, profile.conflict_features)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _active_row(session: Session, profile: Profile) -> ResolutionModel | None:
    return session.scalars(
        select(ResolutionModel)
        .where(ResolutionModel.profile == profile.name, ResolutionModel.active.is_(True))
        .order_by(ResolutionModel.id.desc())
        .limit(1)
    ).first()


def active_model(session: Session, profile: Profile) -> Model | None:
    """The stored model, or None when there is none or it was fitted for another version
    of the profile (then the next run refits and renormalises)."""
    row = _active_row(session, profile)
    if row is None or json.loads(row.model_json).get("fingerprint") != fingerprint(profile):
        return None
    return Model.from_json(row.model_json, profile)


def features_current(session: Session, profile: Profile) -> bool:
    """Whether stored features were computed by this version of the profile."""
    row = _active_row(session, profile)
    return row is not None and json.loads(row.model_json).get("fingerprint") == fingerprint(profile)


def save_model(session: Session, profile: Profile, model: Model, records: int) -> None:
    """Store a newly fitted model as the active one; older ones stay for the record."""
    session.execute(
        update(ResolutionModel).where(ResolutionModel.profile == profile.name).values(active=False)
    )
    text = json.dumps({**json.loads(model.to_json()), "fingerprint": fingerprint(profile)})
    session.add(ResolutionModel(profile=profile.name, model_json=text, records=records))


def watermark(session: Session, profile: Profile, *, lock: bool = False) -> SyncState:
    """The run's cursor row; ``lock`` holds it for the transaction so two runs never
    interleave (PostgreSQL row lock; SQLite has one writer anyway)."""
    query = select(SyncState).where(
        SyncState.source == WATERMARK_SOURCE, SyncState.stream == profile.name
    )
    if lock:
        query = query.with_for_update()
    state = session.scalars(query).first()
    if state is None:
        state = SyncState(source=WATERMARK_SOURCE, stream=profile.name, cursor={})
        session.add(state)
        session.flush()
    return state


def advance(state: SyncState, **cursor: Any) -> None:
    state.cursor = {**(state.cursor or {}), **cursor, "at": utcnow().isoformat()}
    state.updated_at = utcnow()


@dataclass(frozen=True)
class Constraints:
    """Clerks' decisions as record-id pairs."""

    must: list[tuple[int, int]]
    cannot: list[tuple[int, int]]


def load_constraints(session: Session) -> Constraints:
    rows = session.execute(
        select(
            ResolutionConstraint.kind,
            ResolutionConstraint.left_record_id,
            ResolutionConstraint.right_record_id,
        ).where(ResolutionConstraint.active.is_(True))
    )
    must: list[tuple[int, int]] = []
    cannot: list[tuple[int, int]] = []
    for kind, left, right in rows:
        (must if kind == ConstraintKind.MUST_LINK else cannot).append((int(left), int(right)))
    return Constraints(must, cannot)
