"""Matching one incoming record against persons already resolved, without a batch rerun.

This is the in-memory reference for the store-backed path: the same three questions a
store adapter will answer with database indexes — which records share a block key with
the newcomer (a dict lookup per blocking rule), how strongly each candidate agrees (the
batch model's weights, computed in plain Python for a handful of pairs), and whether the
best candidate's person can take it (no conflicting valid ID).  No retraining happens:
m, u and λ come from the last batch fit, term frequencies from the current table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from resolution.arrays import unique_sorted
from resolution.blocking import rule_keys
from resolution.comparisons import NULL_LEVEL, levels_for_values
from resolution.engine import Resolution, sufficient_mask
from resolution.features import normalise_record
from resolution.model import logit2

__all__ = ["Candidate", "MatchResult", "PersonIndex"]

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Candidate:
    record: int  # row in the indexed table
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


class PersonIndex:
    """Blocking index plus fitted model over a resolved table."""

    def __init__(self, resolution: Resolution) -> None:
        self.resolution = resolution
        self.profile = resolution.profile
        self.table = resolution.table
        self.model = resolution.model
        self._weights = [np.append(c.weights, 0.0).tolist() for c in self.model.comparisons]
        self._compared = sorted(
            {c.null_key for c in self.profile.comparisons}
            | {lv.key for c in self.profile.comparisons for lv in c.levels}
            | {lv.other for c in self.profile.comparisons for lv in c.levels if lv.other}
        )
        self._index: list[tuple[dict[tuple[str, ...], IntArray], dict[tuple[str, ...], IntArray]]]
        self._index = [self._build(rule_no) for rule_no in range(len(self.profile.blocking))]
        person = resolution.person
        self._by_person = np.argsort(person, kind="stable")
        self._person_start = np.searchsorted(person[self._by_person], np.arange(len(person) + 1))

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

    def candidates(self, values: Mapping[str, str | None]) -> IntArray:
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

    def _weight(self, levels: list[int], values: Mapping[str, str | None]) -> float:
        total = logit2(self.model.lam)
        for k, comp in enumerate(self.model.comparisons):
            level = levels[k]
            total += self._weights[k][level]
            key = comp.tf_keys.get(level) if level != NULL_LEVEL else None
            if key is not None:
                feat = self.table[key]
                code = feat.code_of(values.get(key))
                count = int(feat.counts[code]) if code >= 0 else 0
                freq = max(count, 1) / max(int(feat.counts.sum()), 1)
                total += float(np.log2(comp.tf_base(level) / freq))
        return total

    def match(self, record: Mapping[str, Any]) -> MatchResult:
        """Decide where one raw record (profile columns) belongs."""
        values = normalise_record(self.profile, record)
        if self.profile.sufficient_if_any and not any(
            all(values.get(f) is not None for f in group)
            for group in self.profile.sufficient_if_any
        ):
            return MatchResult("new_person", None, "insufficient_identifiers")
        scored = []
        for rec in self.candidates(values).tolist():
            levels = levels_for_values(self.profile, values, self.values_of(rec))
            weight = self._weight(levels, values)
            prob = 1.0 / (1.0 + 2.0 ** (-min(max(weight, -60.0), 60.0)))
            person = str(self.resolution.person_ids[self.resolution.person[rec]])
            scored.append(Candidate(rec, person, weight, prob, tuple(levels)))
        scored.sort(key=lambda c: -c.match_weight)
        flagged = [(c, self._guard(c, ("review",))) for c in scored]
        flagged = [(c, name) for c, name in flagged if name]
        best = scored[0] if scored else None
        if best is None or best.match_probability < self.profile.review_probability:
            if flagged:  # e.g. the newcomer's ID already belongs to someone else
                return MatchResult("review", flagged[0][0].person_id, flagged[0][1], tuple(scored))
            return MatchResult("new_person", None, "", tuple(scored))
        reason = self._guard(best, ("cap", "review")) or self._conflict(best, values)
        if best.match_probability >= self.profile.match_probability and not reason:
            return MatchResult("match", best.person_id, "", tuple(scored))
        return MatchResult("review", best.person_id, reason, tuple(scored))

    def _guard(self, cand: Candidate, actions: tuple[str, ...]) -> str:
        names = [c.name for c in self.profile.comparisons]
        for guard in self.profile.guards:
            if guard.action not in actions:
                continue
            ok = True
            for comp_name, labels in guard.when.items():
                k = names.index(comp_name)
                level = cand.levels[k]
                label = "null" if level == NULL_LEVEL else self.model.comparisons[k].labels[level]
                ok &= label in labels
            if ok:
                return guard.name
        return ""

    def _conflict(self, cand: Candidate, values: Mapping[str, str | None]) -> str:
        """A different valid ID anywhere in the candidate's person forbids joining it."""
        p = int(self.resolution.person[cand.record])
        members = self._by_person[self._person_start[p] : self._person_start[p + 1]]
        for feature in self.profile.conflict_features:
            mine = values.get(feature)
            if mine is None:
                continue
            feat = self.table[feature]
            held = {str(feat.values[c]) for c in feat.codes[members].tolist() if c >= 0}
            if held - {mine}:
                return "conflicting_ids"
        return ""
