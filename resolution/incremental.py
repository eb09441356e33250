"""Matching one incoming record against persons already resolved, without a batch rerun.

The same three questions whatever holds the persons: which records share a block key with
the newcomer, how strongly each candidate agrees (the batch model's weights, computed in
plain Python for a handful of pairs), and which candidate's person can take it (no
conflicting valid ID, no clerk's "these are two people").  An :class:`IndexBackend`
answers the data questions — :class:`MemoryBackend` over a batch :class:`Resolution`,
``resolution.store_index.StoreBackend`` with database indexes — and :class:`PersonIndex`
decides.  No retraining happens: m, u and λ come from the last batch fit.

Decisions are taken per person, the way batch clustering takes them: a person is joined
when any of its records is a clean match (above the match threshold, no guard), so a
capped pair with one record does not hide a clean match with another.  When a newcomer
matches several persons cleanly, a batch run would have joined them all; ``also`` names
the others so the caller can do the same (or not).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from resolution.arrays import unique_sorted
from resolution.blocking import rule_keys
from resolution.comparisons import NULL_LEVEL
from resolution.engine import Resolution, sufficient_mask
from resolution.features import normalise_record
from resolution.model import Model, logit2
from resolution.profile import LevelSpec, Profile
from resolution.similarity import METRICS

__all__ = [
    "Candidate",
    "IndexBackend",
    "IndexedRecord",
    "MatchResult",
    "MemoryBackend",
    "PersonIndex",
    "is_sufficient",
]

IntArray = npt.NDArray[np.int64]
Values = Mapping[str, str | None]


@dataclass(frozen=True)
class Candidate:
    record: int  # row in the indexed table, or source record id in the store
    person_id: str
    match_weight: float
    match_probability: float
    levels: tuple[int, ...]


@dataclass(frozen=True)
class MatchResult:
    """``decision`` is ``match`` (join ``person_id``), ``review`` or ``new_person``."""

    decision: str
    person_id: str | None
    reason: str = ""
    candidates: tuple[Candidate, ...] = field(default=())
    also: tuple[str, ...] = field(default=())  # other persons matched cleanly


@dataclass(frozen=True)
class IndexedRecord:
    record: int
    person_id: str
    values: Values


class IndexBackend(Protocol):
    """What a person index needs to know; every method may be one batched query."""

    profile: Profile
    model: Model

    def candidates(self, values: Values, exclude: int | None) -> list[IndexedRecord]: ...

    def term_share(self, feature: str, value: str) -> float: ...

    def held(self, persons: Sequence[str], feature: str) -> dict[str, set[str]]: ...

    def forbidden(self, record: int | None, persons: Sequence[str]) -> set[str]: ...


def is_sufficient(profile: Profile, values: Values) -> bool:
    return not profile.sufficient_if_any or any(
        all(values.get(f) is not None for f in group) for group in profile.sufficient_if_any
    )


def block_values(profile: Profile, values: Values) -> list[tuple[int, str, tuple[str, ...]]]:
    """(rule, side, value tuple) keys of one record: ``L`` and ``R`` sides of each rule."""
    out = []
    for k, rule in enumerate(profile.blocking):
        for side, names in (("L", [a for a, _ in rule.terms]), ("R", [b for _, b in rule.terms])):
            key = tuple(values.get(f) for f in names)
            if all(v is not None for v in key):
                out.append((k, side, tuple(str(v) for v in key)))
            if rule.symmetric:
                break
    return out


class MemoryBackend:
    """The index over a batch :class:`Resolution` held in memory."""

    def __init__(self, resolution: Resolution) -> None:
        self.resolution = resolution
        self.profile = resolution.profile
        self.model = resolution.model
        self.table = resolution.table
        self._compared = sorted(
            {k for c in self.profile.comparisons for k in c.keys}
            | set(self.profile.conflict_features)
        )
        self._index = [self._build(k) for k in range(len(self.profile.blocking))]
        person = resolution.person
        self._by_person = np.argsort(person, kind="stable")
        self._person_start = np.searchsorted(person[self._by_person], np.arange(len(person) + 1))
        self._person_no = {str(pid): k for k, pid in enumerate(resolution.person_ids.tolist())}

    def _build(
        self, rule_no: int
    ) -> tuple[dict[tuple[str, ...], IntArray], dict[tuple[str, ...], IntArray]]:
        """Per rule: value tuple → records, for the rule's left and right feature sides."""
        rule = self.profile.blocking[rule_no]
        left, right = rule_keys(self.table, rule)
        eligible = sufficient_mask(self.table, self.profile)
        sides = []
        for keys, names in (
            (left, [a for a, _ in rule.terms]),
            (right, [b for _, b in rule.terms]),
        ):
            keys = np.where(eligible, keys, -1)
            idx = np.flatnonzero(keys >= 0)
            order = idx[np.argsort(keys[idx], kind="stable")]
            ks = keys[order]
            starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]]) if len(ks) else ks
            ends = np.r_[starts[1:], len(ks)]
            mapping: dict[tuple[str, ...], IntArray] = {}
            for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
                rec = int(order[s])
                value = tuple(str(self.table[f].values[self.table[f].codes[rec]]) for f in names)
                mapping[value] = order[s:e]
            sides.append(mapping)
        return sides[0], sides[1]

    def values_of(self, record: int) -> dict[str, str | None]:
        """The compared feature values of an indexed record."""
        out: dict[str, str | None] = {}
        for name in self._compared:
            feat = self.table[name]
            code = int(feat.codes[record])
            out[name] = None if code < 0 else str(feat.values[code])
        return out

    def candidate_rows(self, values: Values) -> IntArray:
        """Records sharing at least one (not oversized) block with ``values``."""
        found = []
        cap = self.profile.max_block_size
        for rule, (by_left, by_right) in zip(self.profile.blocking, self._index, strict=True):
            lkey = tuple(values.get(a) for a, _ in rule.terms)
            rkey = tuple(values.get(b) for _, b in rule.terms)
            for key, side in ((lkey, by_right), (rkey, by_left)):
                if any(v is None for v in key):
                    continue
                hit = side.get(tuple(str(v) for v in key))
                if hit is not None and len(hit) <= cap:
                    found.append(hit)
        return unique_sorted(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)

    def candidates(self, values: Values, exclude: int | None) -> list[IndexedRecord]:
        r = self.resolution
        return [
            IndexedRecord(rec, str(r.person_ids[r.person[rec]]), self.values_of(rec))
            for rec in self.candidate_rows(values).tolist()
            if rec != exclude
        ]

    def term_share(self, feature: str, value: str) -> float:
        feat = self.table[feature]
        code = feat.code_of(value)
        count = int(feat.counts[code]) if code >= 0 else 0
        return max(count, 1) / max(int(feat.counts.sum()), 1)

    def held(self, persons: Sequence[str], feature: str) -> dict[str, set[str]]:
        feat = self.table[feature]
        out = {}
        for person in persons:
            p = self._person_no[person]
            members = self._by_person[self._person_start[p] : self._person_start[p + 1]]
            out[person] = {str(feat.values[c]) for c in feat.codes[members].tolist() if c >= 0}
        return out

    def forbidden(self, record: int | None, persons: Sequence[str]) -> set[str]:
        return set()  # a batch result carries no clerk's decisions


Test = Callable[[Values], bool]


def _bind(lv: LevelSpec, left: Values) -> Test:
    """``_level_hit_values(lv, left, ·)`` with the left side fixed (same answers)."""
    key, a = lv.key, left.get(lv.key)
    if lv.kind == "cross_exact":
        other = lv.other
        assert other is not None
        a2 = left.get(other)
        return lambda r: (
            (a is not None and a == r.get(other)) or (a2 is not None and a2 == r.get(key))
        )
    if a is None:
        return lambda r: False
    if lv.kind == "exact":
        return lambda r: r.get(key) == a
    if lv.kind == "prefix":
        n = int(lv.threshold or 0)
        head = a[:n]
        if len(a) < n:
            return lambda r: False
        return lambda r: (b := r.get(key)) is not None and len(b) >= n and b[:n] == head
    fn, t = METRICS[lv.kind], lv.threshold or 0.0
    if lv.kind == "jaro_winkler":
        return lambda r: (b := r.get(key)) is not None and fn(a, b) >= t
    if lv.kind == "damerau_levenshtein":
        return lambda r: (b := r.get(key)) is not None and fn(a, b) <= t
    return lambda r: (b := r.get(key)) is not None and fn(a, b) == 1.0


class PersonIndex:
    """Blocking index plus fitted model: where does one more record belong?"""

    def __init__(self, source: Resolution | IndexBackend) -> None:
        self.backend: IndexBackend = (
            MemoryBackend(source) if isinstance(source, Resolution) else source
        )
        self.profile = self.backend.profile
        self.model = self.backend.model
        self._weights = [np.append(c.weights, 0.0).tolist() for c in self.model.comparisons]
        self._names = [c.name for c in self.profile.comparisons]

    def _compiled(
        self, values: Values
    ) -> list[tuple[str, list[Test], list[float], bool, str | None]]:
        """Per comparison: the level tests with the newcomer's side bound in, and the weight
        of each level for this newcomer (term frequencies depend on its values only)."""
        out = []
        for k, (spec, comp) in enumerate(
            zip(self.profile.comparisons, self.model.comparisons, strict=True)
        ):
            row = list(self._weights[k])
            for level, key in comp.tf_keys.items():
                value = values.get(key)
                if value is not None:
                    share = self.backend.term_share(key, value)
                    row[level] += float(np.log2(comp.tf_base(level) / share))
            tests = [_bind(lv, values) for lv in spec.levels]
            # ``when_either`` already met by the newcomer itself needs no look at the other side
            when = spec.when_either
            either = None if when is None or values.get(when) is not None else when
            out.append((spec.null_key, tests, row, values.get(spec.null_key) is None, either))
        return out

    def score(self, values: Values, exclude: int | None = None) -> list[Candidate]:
        """Every candidate record, strongest first (the same levels and weights as
        ``levels_for_values`` and the batch model, computed with the newcomer's side of
        every test prepared once: a broad block can bring a few hundred candidates)."""
        candidates = self.backend.candidates(values, exclude)
        compiled = self._compiled(values) if candidates else []
        prior = logit2(self.model.lam)
        scored = []
        for cand in candidates:
            right = cand.values
            levels = []
            weight = prior
            for null_key, tests, row, left_null, either in compiled:
                level = NULL_LEVEL
                if (
                    not left_null
                    and right.get(null_key) is not None
                    and (either is None or right.get(either) is not None)
                ):
                    level = len(tests)
                    for index, test in enumerate(tests):
                        if test(right):
                            level = index
                            break
                levels.append(level)
                weight += row[level]  # NULL_LEVEL (-1) reads the trailing 0.0
            prob = 1.0 / (1.0 + 2.0 ** (-min(max(weight, -60.0), 60.0)))
            scored.append(Candidate(cand.record, cand.person_id, weight, prob, tuple(levels)))
        scored.sort(key=lambda c: (-c.match_weight, c.record))
        return scored

    def match(self, record: Mapping[str, Any]) -> MatchResult:
        """Decide where one raw record (profile columns) belongs."""
        return self.match_values(normalise_record(self.profile, record))

    def match_values(self, values: Values, record: int | None = None) -> MatchResult:
        """Decide for normalised ``values``; ``record`` is the newcomer's own reference
        when it is already indexed (a changed record), so it is not its own candidate."""
        if not is_sufficient(self.profile, values):
            return MatchResult("new_person", None, "insufficient_identifiers")
        scored = self.score(values, record)
        clean: dict[str, Candidate] = {}
        doubtful: list[tuple[Candidate, str]] = []
        for c in scored:
            review_guard = self._guard(c, ("review",))
            # a cap only matters for what would otherwise be a match or a review
            worth = c.match_probability >= self.profile.review_probability
            capped = self._guard(c, ("cap",)) if worth else ""
            if c.match_probability >= self.profile.match_probability and not (
                review_guard or capped
            ):
                clean.setdefault(c.person_id, c)
            elif c.match_probability >= self.profile.review_probability or review_guard:
                doubtful.append((c, review_guard or capped))
        blocked = self._blocked(values, record, list(clean))
        ok = [p for p in clean if p not in blocked]
        if ok:
            return MatchResult("match", ok[0], "", tuple(scored), tuple(ok[1:]))
        if clean:  # the best clean match is held back by an ID or a clerk's decision
            best = clean[next(iter(clean))]
            return MatchResult("review", best.person_id, blocked[best.person_id], tuple(scored))
        if doubtful:
            cand, why = doubtful[0]
            return MatchResult("review", cand.person_id, why, tuple(scored))
        return MatchResult("new_person", None, "", tuple(scored))

    def _blocked(self, values: Values, record: int | None, persons: list[str]) -> dict[str, str]:
        """Persons the newcomer may not join: another valid ID, or a clerk said no."""
        if not persons:
            return {}
        out: dict[str, str] = {}
        for feature in self.profile.conflict_features:
            mine = values.get(feature)
            if mine is None:
                continue
            for person, held in self.backend.held(persons, feature).items():
                if held - {mine}:
                    out.setdefault(person, "conflicting_ids")
        for person in self.backend.forbidden(record, persons):
            out.setdefault(person, "rejected_by_reviewer")
        return out

    def _guard(self, cand: Candidate, actions: tuple[str, ...]) -> str:
        for guard in self.profile.guards:
            if guard.action not in actions:
                continue
            ok = True
            for comp_name, labels in guard.when.items():
                k = self._names.index(comp_name)
                level = cand.levels[k]
                label = "null" if level == NULL_LEVEL else self.model.comparisons[k].labels[level]
                ok &= label in labels
            if ok:
                return guard.name
        return ""
