"""Reading source records out of the store into the engine's feature table, in chunks.

A district's store holds millions of records with their full payloads; the engine needs a
dozen short canonical fields of each.  So only those fields are selected (JSON paths, on
SQLite and PostgreSQL alike), the rows arrive in chunks, each chunk is normalised and
reduced to integer codes, and its text is dropped before the next one arrives: peak
memory follows the number of *distinct* values, not the size of the payloads.  A record
whose features were stored by an earlier run at the same version is not normalised again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Select, and_, literal, select
from sqlalchemy.orm import Session

from canonical_model import SourceRecord
from canonical_model.resolution_state import ResolutionEntry
from resolution.features import Feature, FeatureTable, build_features
from resolution.profile import Profile

__all__ = [
    "CHUNK",
    "StoreTable",
    "canonical_columns",
    "entry_values",
    "is_dependent",
    "read_table",
    "subject_of",
]

CHUNK = 50_000
IntArray = npt.NDArray[np.int64]

#: Profile column ← canonical keys, first present wins (the register writes its flat as
#: ``registered_address``; an ID that failed its checksum is still evidence).
_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "id_number": ("resident_id", "resident_id_raw"),
    "birth_date": ("birth_date",),
    "gender": ("gender",),
    "phone": ("phone",),
    "address": ("address", "registered_address"),
    "household": ("household_no",),
}
_KEYS = sorted({k for keys in _COLUMNS.values() for k in keys})
_SUBJECT = ("source", "stream", "source_key")
#: Positions in ``_query``'s rows: id, source, version, person, features, then ``_KEYS``.
_ID, _SOURCE, _VERSION, _PERSON, _FEATURES = 0, 1, 2, 3, 4
_AT = {k: 5 + n for n, k in enumerate(_KEYS)}


def canonical_columns(canonical: dict[str, Any]) -> dict[str, Any]:
    """The engine's columns from one canonical mapping."""
    out: dict[str, Any] = {}
    for column, keys in _COLUMNS.items():
        out[column] = next((canonical.get(k) for k in keys if canonical.get(k)), None)
    if out["gender"] not in ("M", "F"):
        out["gender"] = None
    return out


def subject_of(canonical: dict[str, Any]) -> tuple[str, str, str] | None:
    """The record another record is about (a FHIR Encounter names its Patient)."""
    facts = canonical.get("facts")
    subject = facts.get("subject") if isinstance(facts, dict) else None
    if not isinstance(subject, dict):
        return None
    parts = tuple(subject.get(k) for k in _SUBJECT)
    return (str(parts[0]), str(parts[1]), str(parts[2])) if all(parts) else None


def is_dependent(canonical: dict[str, Any]) -> bool:
    """True for records that bear no person of their own and follow their subject's."""
    return subject_of(canonical) is not None


def entry_values(profile: Profile, features: Sequence[str | None]) -> dict[str, str | None]:
    return {spec.name: features[k] for k, spec in enumerate(profile.features)}


@dataclass
class StoreTable:
    """The feature table plus, per row, the store's ids and what was already there."""

    table: FeatureTable
    record_id: IntArray
    person_id: IntArray  # -1: not linked yet
    version: IntArray
    fresh: npt.NDArray[np.bool_]  # features computed now (the entry must be (re)written)


def _query(where: Any | None, reuse: bool) -> Select[Any]:
    cols = [SourceRecord.canonical[k].as_string().label(k) for k in _KEYS]
    subject = SourceRecord.canonical[("facts", "subject", "source_key")].as_string()
    query = (
        select(
            SourceRecord.id,
            SourceRecord.source,
            SourceRecord.version,
            SourceRecord.person_id,
            ResolutionEntry.features,
            *cols,
        )
        .outerjoin(
            ResolutionEntry,
            and_(
                ResolutionEntry.source_record_id == SourceRecord.id,
                ResolutionEntry.version == SourceRecord.version,
                literal(reuse),
            ),
        )
        .where(subject.is_(None))
        .order_by(SourceRecord.id)
    )
    return query if where is None else query.where(where)


def _chunks(session: Session, where: Any | None, reuse: bool) -> Iterator[Sequence[Any]]:
    result = session.execute(_query(where, reuse), execution_options={"yield_per": CHUNK})
    yield from result.partitions(CHUNK)


class _Accumulator:
    """Global integer codes per feature, grown chunk by chunk."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.names = [f.name for f in profile.features]
        self.index: dict[str, dict[str, int]] = {n: {} for n in self.names}
        self.codes: dict[str, list[IntArray]] = {n: [] for n in self.names}

    def add(self, name: str, values: npt.NDArray[np.object_]) -> None:
        codes, uniques = pd.factorize(pd.Series(values, dtype=object), sort=False)
        index = self.index[name]
        remap = np.fromiter((index.setdefault(str(u), len(index)) for u in uniques), dtype=np.int64)
        self.codes[name].append(np.where(codes >= 0, np.append(remap, -1)[codes], -1))

    def table(self, sources: list[str], keys: npt.NDArray[np.object_]) -> FeatureTable:
        features = {}
        n = len(keys)
        for name in self.names:
            codes = np.concatenate(self.codes[name]) if self.codes[name] else np.empty(0, int)
            values = np.empty(len(self.index[name]), dtype=object)
            for value, code in self.index[name].items():
                values[code] = value
            counts = np.bincount(codes[codes >= 0], minlength=len(values)).astype(np.int64)
            features[name] = Feature(name, codes.astype(np.int64), values, counts)
            self.index[name] = {}  # the dictionaries are the largest thing held: free them
        src_codes, src_names = pd.factorize(pd.Series(sources, dtype=object), sort=True)
        return FeatureTable(
            n=n,
            source=src_codes.astype(np.int64),
            source_names=[str(s) for s in src_names],
            source_keys=keys,
            features=features,
        )


def normalise_frame(profile: Profile, frame: pd.DataFrame) -> list[npt.NDArray[np.object_]]:
    """Feature values per record of ``frame`` (one array per profile feature); top-level so
    worker processes can run it."""
    built = build_features(frame, profile)
    out = []
    for spec in profile.features:
        feat = built[spec.name]
        padded = np.empty(len(feat.values) + 1, dtype=object)
        padded[:-1] = feat.values  # code -1 (no value) reads the trailing None
        out.append(padded[feat.codes])
    return out


@dataclass
class _Chunk:
    rows: Sequence[Any]
    values: npt.NDArray[np.object_]
    new: IntArray
    pending: Future[list[npt.NDArray[np.object_]]] | list[npt.NDArray[np.object_]] | None


def _split(
    rows: Sequence[Any], width: int
) -> tuple[npt.NDArray[np.object_], IntArray, pd.DataFrame | None]:
    n = len(rows)
    stored = np.fromiter((r[_FEATURES] is not None for r in rows), dtype=bool, count=n)
    values = np.empty((n, width), dtype=object)
    for i in np.flatnonzero(stored).tolist():
        values[i, :] = rows[i][_FEATURES]
    new = np.flatnonzero(~stored)
    return values, new, _frame([rows[i] for i in new.tolist()]) if len(new) else None


def _frame(rows: Sequence[Any]) -> pd.DataFrame:
    """The rows' engine columns as ``canonical_columns`` picks them, built column by column
    from the rows' positions: a dict per row through ``Row._mapping`` cost a minute of the
    read at a million records."""
    cols = list(zip(*rows, strict=True))
    data: dict[str, list[Any]] = {
        "source": list(cols[_SOURCE]),
        "source_key": [str(v) for v in cols[_ID]],
    }
    for column, keys in _COLUMNS.items():
        picked: list[Any] = [v or None for v in cols[_AT[keys[0]]]]
        for key in keys[1:]:  # the first present (truthy) key wins
            picked = [
                v if v is not None else (w or None)
                for v, w in zip(picked, cols[_AT[key]], strict=True)
            ]
        data[column] = picked
    data["gender"] = [g if g in ("M", "F") else None for g in data["gender"]]
    return pd.DataFrame(data)


def read_table(
    session: Session,
    profile: Profile,
    where: Any | None = None,
    *,
    workers: int = 1,
    reuse: bool = True,
) -> StoreTable:
    """Every person-bearing record (or those matching ``where``) as a feature table.

    Normalising is the costly part (address parsing, pinyin, script folding in Python);
    with ``workers`` > 1 chunks are normalised in that many processes while the next
    chunk is read, in order, with at most two chunks per worker in flight.  ``reuse``
    False ignores stored features (the profile changed since they were computed).
    """
    acc = _Accumulator(profile)
    parts: dict[str, list[Any]] = {"ids": [], "persons": [], "versions": [], "fresh": []}
    sources: list[str] = []
    width = len(acc.names)
    pool = ProcessPoolExecutor(workers, mp_context=get_context("fork")) if workers > 1 else None
    queue: deque[_Chunk] = deque()

    def finish(chunk: _Chunk) -> None:
        rows, n = chunk.rows, len(chunk.rows)
        if chunk.pending is not None:
            columns = chunk.pending.result() if isinstance(chunk.pending, Future) else chunk.pending
            for k, column in enumerate(columns):
                chunk.values[chunk.new, k] = column
        for k, name in enumerate(acc.names):
            acc.add(name, chunk.values[:, k])
        cols = list(zip(*rows, strict=True))  # by position: a Row's attributes cost more
        parts["ids"].append(np.fromiter(cols[_ID], dtype=np.int64, count=n))
        parts["persons"].append(
            np.fromiter((-1 if p is None else p for p in cols[_PERSON]), dtype=np.int64, count=n)
        )
        parts["versions"].append(np.fromiter(cols[_VERSION], dtype=np.int64, count=n))
        fresh = np.zeros(n, dtype=bool)
        fresh[chunk.new] = True
        parts["fresh"].append(fresh)
        sources.extend(cols[_SOURCE])

    try:
        for rows in _chunks(session, where, reuse):
            values, new, frame = _split(rows, width)
            pending: Any = None
            if frame is not None:
                pending = (
                    pool.submit(normalise_frame, profile, frame)
                    if pool is not None
                    else normalise_frame(profile, frame)
                )
            queue.append(_Chunk(rows, values, new, pending))
            while len(queue) > 2 * max(workers, 1) - 1:
                finish(queue.popleft())
        while queue:
            finish(queue.popleft())
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    empty = np.empty(0, dtype=np.int64)
    record_id = np.concatenate(parts["ids"]) if parts["ids"] else empty
    return StoreTable(
        table=acc.table(sources, record_id.astype(str).astype(object)),
        record_id=record_id,
        person_id=np.concatenate(parts["persons"]) if parts["persons"] else empty,
        version=np.concatenate(parts["versions"]) if parts["versions"] else empty,
        fresh=np.concatenate(parts["fresh"]) if parts["fresh"] else np.empty(0, dtype=bool),
    )
