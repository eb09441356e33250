"""The person index in the store: blocking keys, term counts and features per record.

One new record must be placed among a million persons in milliseconds, so the questions
a batch run answers by sorting everything become indexed lookups: the newcomer's block
keys (hashed, so no personal text sits in the index) find candidate records in
``resolution_block``; their stored features (``resolution_entry``) give comparison
levels; ``resolution_term`` gives the term frequencies the model's weights are adjusted
by.  A full run rewrites the index from its feature table; an incremental run adds and
removes one record's rows as it goes, so the next newcomer already sees it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from canonical_model.resolution_state import (
    ConstraintKind,
    ResolutionBlock,
    ResolutionEntry,
    ResolutionTerm,
)
from resolution.blocking import rule_keys
from resolution.bulk import insert_tuples
from resolution.engine import sufficient_mask
from resolution.incremental import IndexedRecord, Values, block_values, is_sufficient
from resolution.model import Model
from resolution.profile import Profile
from resolution.state import stable_hash
from resolution.store_read import StoreTable

__all__ = [
    "StoreBackend",
    "block_keys",
    "freeze_terms",
    "index_record",
    "rebuild_index",
    "tf_features",
    "unindex_record",
]

_IN = 500  # ids per IN (...) list


def tf_features(profile: Profile) -> list[str]:
    """Features whose value frequencies adjust weights (``tf: true`` exact levels)."""
    return sorted({lv.key for c in profile.comparisons for lv in c.levels if lv.tf})


def _block_hash(rule: int, side: str, values: Sequence[str]) -> int:
    return stable_hash("block", rule, side, *values)


def _term_hash(feature: str, value: str | None) -> int:
    return stable_hash("term", feature, value)


def block_keys(profile: Profile, values: Values) -> list[int]:
    """The keys one record is indexed under (a symmetric rule has one side, ``S``)."""
    out = []
    for rule, side, key in block_values(profile, values):
        out.append(_block_hash(rule, "S" if profile.blocking[rule].symmetric else side, key))
    return out


def _lookup_keys(profile: Profile, values: Values) -> list[int]:
    """The keys a newcomer's candidates are indexed under: the *other* side of each rule."""
    out = []
    for rule, side, key in block_values(profile, values):
        other = "S" if profile.blocking[rule].symmetric else ("R" if side == "L" else "L")
        out.append(_block_hash(rule, other, key))
    return out


def _feature_rows(store: StoreTable, rows: npt.NDArray[np.int64], names: list[str]) -> list[Any]:
    """Each row's feature values as a list (``None`` where empty), column by column."""
    columns = []
    for name in names:
        feat = store.table[name]
        padded = np.empty(len(feat.values) + 1, dtype=object)
        padded[:-1] = feat.values  # code -1 (no value) reads the trailing None
        columns.append(padded[feat.codes[rows]].tolist())
    return [list(values) for values in zip(*columns, strict=True)] if columns else []


def rebuild_index(
    session: Session, profile: Profile, store: StoreTable, *, terms: bool
) -> dict[str, int]:
    """Rewrite the whole index from a full run's table (entries only where they changed);
    ``terms`` refreezes the term counts, which happens only with a newly fitted model."""
    table = store.table
    names = [f.name for f in profile.features]
    session.execute(delete(ResolutionBlock))
    if terms:
        session.execute(delete(ResolutionTerm))
    fresh = np.flatnonzero(store.fresh)
    for start in range(0, len(fresh), _IN * 10):
        ids = store.record_id[fresh[start : start + _IN * 10]].tolist()
        session.execute(delete(ResolutionEntry).where(ResolutionEntry.source_record_id.in_(ids)))
    eligible = sufficient_mask(table, profile)
    entries = 0
    for start in range(0, len(fresh), 100_000):
        rows = fresh[start : start + 100_000]
        entries += insert_tuples(
            session,
            _table(ResolutionEntry),
            ("source_record_id", "version", "sufficient", "features"),
            zip(
                store.record_id[rows].tolist(),
                store.version[rows].tolist(),
                eligible[rows].tolist(),
                _feature_rows(store, rows, names),
                strict=True,
            ),
        )
    # sorted by key, so the index B-trees grow at one end instead of everywhere at once
    blocks = insert_tuples(
        session,
        _table(ResolutionBlock),
        ("key", "source_record_id"),
        _block_rows(profile, store, eligible),
    )
    written = (
        insert_tuples(
            session, _table(ResolutionTerm), ("key", "count"), sorted(_term_rows(profile, store))
        )
        if terms
        else 0
    )
    return {"entries_written": entries, "block_rows": blocks, "term_rows": written}


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _block_rows(
    profile: Profile, store: StoreTable, eligible: npt.NDArray[np.bool_]
) -> Iterator[tuple[int, int]]:
    """(key, record) for every rule and side, in key order (built as arrays: at a million
    persons there are tens of millions of them)."""
    table = store.table
    all_keys, all_ids = [], []
    for k, rule in enumerate(profile.blocking):
        left, right = rule_keys(table, rule)
        sides = (
            [("S", left, [a for a, _ in rule.terms])]
            if rule.symmetric
            else [
                ("L", left, [a for a, _ in rule.terms]),
                ("R", right, [b for _, b in rule.terms]),
            ]
        )
        for side, keys, feats in sides:
            keys = np.where(eligible, keys, -1)
            rows = np.flatnonzero(keys >= 0)
            if not len(rows):
                continue
            distinct, first = np.unique(keys[rows], return_index=True)
            hashes = np.zeros(int(distinct.max()) + 1, dtype=np.int64)
            for key, row in zip(distinct.tolist(), rows[first].tolist(), strict=True):
                parts = [str(table[f].values[table[f].codes[row]]) for f in feats]
                hashes[key] = _block_hash(k, side, parts)
            all_keys.append(hashes[keys[rows]])
            all_ids.append(store.record_id[rows])
    if not all_keys:
        return
    keys_arr, ids_arr = np.concatenate(all_keys), np.concatenate(all_ids)
    order = np.lexsort((ids_arr, keys_arr))
    for start in range(0, len(order), 100_000):
        chunk = order[start : start + 100_000]
        yield from zip(keys_arr[chunk].tolist(), ids_arr[chunk].tolist(), strict=True)


def _term_rows(profile: Profile, store: StoreTable) -> Iterator[tuple[int, int]]:
    for name in tf_features(profile):
        feat = store.table[name]
        for value, count in zip(feat.values.tolist(), feat.counts.tolist(), strict=True):
            if count:
                yield _term_hash(name, str(value)), int(count)
        yield _term_hash(name, None), int(feat.counts.sum())


def freeze_terms(session: Session, profile: Profile, store: StoreTable) -> None:
    """Give the table's term-frequency features the counts frozen with the stored model."""
    for name in tf_features(profile):
        feat = store.table[name]
        keys = [_term_hash(name, str(v)) for v in feat.values.tolist()]
        total_key = _term_hash(name, None)
        found: dict[int, int] = {}
        wanted = [*keys, total_key]
        for start in range(0, len(wanted), _IN * 10):
            found.update(
                session.execute(
                    select(ResolutionTerm.key, ResolutionTerm.count).where(
                        ResolutionTerm.key.in_(wanted[start : start + _IN * 10])
                    )
                ).all()
            )
        feat.frozen_counts = np.fromiter((found.get(k, 0) for k in keys), np.int64, len(keys))
        feat.frozen_total = int(found.get(total_key, 0)) or int(feat.counts.sum())


def unindex_record(session: Session, record_id: int) -> None:
    """Take a record's old version out of the index before its new one goes in."""
    session.execute(delete(ResolutionBlock).where(ResolutionBlock.source_record_id == record_id))
    session.execute(delete(ResolutionEntry).where(ResolutionEntry.source_record_id == record_id))


def index_record(
    session: Session, profile: Profile, record_id: int, version: int, values: Values
) -> bool:
    """Index one record's features; returns whether it is matchable at all."""
    sufficient = is_sufficient(profile, values)
    features = [values.get(f.name) for f in profile.features]
    session.execute(
        insert(ResolutionEntry),
        [
            {
                "source_record_id": record_id,
                "version": version,
                "sufficient": sufficient,
                "features": features,
            }
        ],
    )
    if sufficient:
        keys = sorted(set(block_keys(profile, values)))
        if keys:
            session.execute(
                insert(ResolutionBlock), [{"key": k, "source_record_id": record_id} for k in keys]
            )
    return sufficient


class StoreBackend:
    """:class:`resolution.incremental.IndexBackend` answered by the store's indexes.

    Matching is the hot path of every incremental run, so its few queries go to the
    driver directly: SQLAlchemy's statement machinery costs more than the indexed
    lookups themselves.  The term counts are frozen with the model, so they are cached.
    """

    def __init__(self, session: Session, profile: Profile, model: Model) -> None:
        self.session = session
        self.profile = profile
        self.model = model
        self._terms: dict[int, int] = {}
        self._tf = tf_features(profile)
        self._names = [f.name for f in profile.features]
        paramstyle = session.get_bind().dialect.paramstyle
        self._mark = "?" if paramstyle == "qmark" else "%s"

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        self.session.flush()
        raw = self.session.connection().connection.dbapi_connection
        assert raw is not None
        cur = raw.cursor()
        try:
            cur.execute(sql.replace("?", self._mark), tuple(params))
            return list(cur.fetchall())
        finally:
            cur.close()

    def _marks(self, n: int) -> str:
        return ", ".join("?" * n)

    def candidates(self, values: Values, exclude: int | None) -> list[IndexedRecord]:
        keys = sorted(set(_lookup_keys(self.profile, values)))
        self._prefetch_terms(values)
        if not keys:
            return []
        marks = self._marks(len(keys))
        sizes = self._query(
            f"SELECT key, COUNT(*) FROM resolution_block WHERE key IN ({marks}) GROUP BY key", keys
        )
        usable = [k for k, n in sizes if n <= self.profile.max_block_size]
        if not usable:
            return []
        rows = self._query(
            "SELECT DISTINCT source_record_id FROM resolution_block "
            f"WHERE key IN ({self._marks(len(usable))})",
            usable,
        )
        ids = sorted({int(r[0]) for r in rows} - {exclude})
        out = []
        for start in range(0, len(ids), _IN):
            chunk = ids[start : start + _IN]
            for rid, features, person in self._query(
                "SELECT e.source_record_id, e.features, s.person_id FROM resolution_entry e "
                "JOIN source_record s ON s.id = e.source_record_id "
                f"WHERE e.source_record_id IN ({self._marks(len(chunk))})",
                chunk,
            ):
                if person is not None:
                    feats = json.loads(features) if isinstance(features, str) else features
                    values_of = dict(zip(self._names, feats, strict=True))
                    out.append(IndexedRecord(int(rid), str(person), values_of))
        return out

    def _prefetch_terms(self, values: Values) -> None:
        keys = []
        for name in self._tf:
            value = values.get(name)
            if value is not None:
                keys += [_term_hash(name, value), _term_hash(name, None)]
        wanted = [k for k in keys if k not in self._terms]
        if wanted:
            marks = self._marks(len(wanted))
            found = dict(
                self._query(
                    f'SELECT key, "count" FROM resolution_term WHERE key IN ({marks})', wanted
                )
            )
            for k in wanted:
                self._terms[k] = int(found.get(k, 0))
        if len(self._terms) > 200_000:  # a long run must not grow without bound
            self._terms.clear()

    def term_share(self, feature: str, value: str) -> float:
        key, total = _term_hash(feature, value), _term_hash(feature, None)
        if key not in self._terms or total not in self._terms:
            self._prefetch_terms({feature: value})
        return max(self._terms[key], 1) / max(self._terms[total], 1)

    def held(self, persons: Sequence[str], feature: str) -> dict[str, set[str]]:
        k = self._names.index(feature)
        out: dict[str, set[str]] = defaultdict(set)
        ids = [int(p) for p in persons]
        rows = self._query(
            "SELECT s.person_id, e.features FROM source_record s "
            "JOIN resolution_entry e ON e.source_record_id = s.id "
            f"WHERE s.person_id IN ({self._marks(len(ids))})",
            ids,
        )
        for person, features in rows:
            feats = json.loads(features) if isinstance(features, str) else features
            if feats[k] is not None:
                out[str(person)].add(str(feats[k]))
        return {p: out.get(p, set()) for p in persons}

    def forbidden(self, record: int | None, persons: Sequence[str]) -> set[str]:
        if record is None or not persons:
            return set()
        rows = self._query(
            "SELECT s.person_id FROM resolution_constraint c JOIN source_record s ON s.id = "
            "CASE WHEN c.left_record_id = ? THEN c.right_record_id ELSE c.left_record_id END "
            "WHERE c.active = ? AND c.kind = ? AND (c.left_record_id = ? OR c.right_record_id = ?)",
            [record, True, ConstraintKind.CANNOT_LINK.value, record, record],
        )
        return {str(p) for (p,) in rows if p is not None} & set(persons)
