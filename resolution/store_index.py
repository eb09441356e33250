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
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Table, delete, select
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
from resolution.state import stable_hash, text_hash
from resolution.store_address import Geography
from resolution.store_read import StoreTable

__all__ = [
    "StoreBackend",
    "block_keys",
    "freeze_terms",
    "raw_rows",
    "rebuild_index",
    "reindex_records",
    "tf_features",
]

_IN = 500  # ids per IN (...) list
#: SQLite page cache of a connection placing records (KiB): a placement reads a few
#: pages of each of the block, entry, record, lineage and identifier indexes, and with
#: SQLite's default 2 MB nearly every one is read again from the OS, per statement.
WORKER_CACHE_KIB = 65_536


def tf_features(profile: Profile) -> list[str]:
    """Features whose value frequencies adjust weights (``tf: true`` exact levels)."""
    return sorted({lv.key for c in profile.comparisons for lv in c.levels if lv.tf})


@lru_cache(maxsize=1 << 16)
def _block_hash(rule: int, side: str, values: tuple[str, ...]) -> int:
    """Cached: a placement hashes the same keys to index the record and to look up its
    candidates, and common values (a street, a surname) come back with every newcomer."""
    return stable_hash("block", rule, side, *values)


def _term_hash(feature: str, value: str | None) -> int:
    return stable_hash("term", feature, value)


_term_key = lru_cache(maxsize=1 << 16)(_term_hash)  # the per-placement path's, cached


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
            held = rows[first]  # a record holding each distinct key
            # stable_hash("block", k, side, *values), once per key (no cache), its parts
            # joined column by column
            values = [
                [str(v) for v in table[f].values[table[f].codes[held]].tolist()] for f in feats
            ]
            prefix = f"block\x1f{k}\x1f{side}"
            for key, *parts in zip(distinct.tolist(), *values, strict=True):
                hashes[key] = text_hash("\x1f".join((prefix, *parts)))
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


def raw_rows(session: Session, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` (``?`` marks) on the session's connection, straight at the driver.

    The hot path of every placement: SQLAlchemy's statement machinery (coercion, cache
    keys, result objects) costs several times what an indexed lookup costs SQLite, so the
    few statements a placement needs skip it.  Pending ORM changes are flushed first, so
    the statement sees everything the transaction did."""
    session.flush()
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    if session.get_bind().dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    cur = raw.cursor()
    try:
        cur.execute(sql, tuple(params))
        return list(cur.fetchall()) if cur.description is not None else []
    finally:
        cur.close()


def reindex_records(
    session: Session, profile: Profile, records: Sequence[tuple[int, int, Values]]
) -> dict[int, bool]:
    """Replace the index rows of (record id, version, values): old version out, new in,
    in four statements whatever the number of records; returns which are matchable."""
    out: dict[int, bool] = {}
    entries: list[tuple[Any, ...]] = []
    blocks: set[tuple[int, int]] = set()
    for record_id, version, values in records:
        sufficient = out[record_id] = is_sufficient(profile, values)
        entries.append(
            (record_id, version, sufficient, [values.get(f.name) for f in profile.features])
        )
        if sufficient:
            blocks.update((k, record_id) for k in block_keys(profile, values))
    ids = sorted(out)
    for start in range(0, len(ids), _IN):
        chunk = ids[start : start + _IN]
        marks = ", ".join("?" * len(chunk))
        for table in ("resolution_block", "resolution_entry"):
            raw_rows(session, f"DELETE FROM {table} WHERE source_record_id IN ({marks})", chunk)
    columns = ("source_record_id", "version", "sufficient", "features")
    insert_tuples(session, _table(ResolutionEntry), columns, entries)
    insert_tuples(session, _table(ResolutionBlock), ("key", "source_record_id"), sorted(blocks))
    return out


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
        # the worker's building codes, read once and then only what was added since
        self.geography = Geography()
        self._tf = tf_features(profile)
        self._names = [f.name for f in profile.features]
        self._warm()

    def bind(self, session: Session) -> StoreBackend:
        """Answer from ``session`` from now on: a worker keeps one index (and its cache
        of term counts, frozen with the model) across the transactions it runs."""
        self.session = session
        self._warm()
        return self

    def _warm(self) -> None:
        """Give this connection the worker's page cache, once per connection."""
        if self.session.get_bind().dialect.name != "sqlite":
            return
        pooled = self.session.connection().connection  # its ``info`` lives with the DBAPI one
        raw = pooled.dbapi_connection
        if raw is None or pooled.info.get("worker_cache"):
            return
        raw.execute(f"PRAGMA cache_size = -{WORKER_CACHE_KIB}")
        pooled.info["worker_cache"] = True

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return raw_rows(self.session, sql, params)

    def _marks(self, n: int) -> str:
        return ", ".join("?" * n)

    def candidates(self, values: Values, exclude: int | None) -> list[IndexedRecord]:
        """Records sharing a block with ``values``, with their features and person, in one
        statement.  A block over the size cap is skipped; whether it is over is asked with
        an ``OFFSET`` probe, so an oversized block costs one index seek, not a count of
        its rows (blocks grow with the population)."""
        keys = sorted(set(_lookup_keys(self.profile, values)))
        self._prefetch_terms(values)
        if not keys:
            return []
        rows = ", ".join("(?)" for _ in keys)
        found = self._query(
            f"WITH k(key) AS (VALUES {rows}) "
            "SELECT e.source_record_id, e.features, s.person_id FROM resolution_entry e "
            "JOIN source_record s ON s.id = e.source_record_id "
            "WHERE e.source_record_id IN (SELECT b.source_record_id FROM resolution_block b "
            "JOIN k ON b.key = k.key WHERE NOT EXISTS (SELECT 1 FROM resolution_block c "
            "WHERE c.key = k.key LIMIT 1 OFFSET ?))",
            [*keys, self.profile.max_block_size],
        )
        out = []
        for rid, features, person in sorted(found, key=lambda row: int(row[0])):
            if person is not None and rid != exclude:
                feats = json.loads(features) if isinstance(features, str) else features
                values_of = dict(zip(self._names, feats, strict=True))
                out.append(IndexedRecord(int(rid), str(person), values_of))
        return out

    def _prefetch_terms(self, values: Values) -> None:
        keys = []
        for name in self._tf:
            value = values.get(name)
            if value is not None:
                keys += [_term_key(name, value), _term_key(name, None)]
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
        key, total = _term_key(feature, value), _term_key(feature, None)
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
