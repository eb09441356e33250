"""Comparison vectors: for each candidate pair, which agreement level each field reaches.

Levels are tested in profile order and a pair takes the first it satisfies, so the cheap
integer tests (exact, pinyin-equal, prefix) settle most pairs before any string metric
runs, and a metric shared by several levels (Jaro–Winkler at 0.92, 0.88, 0.7) is computed
once.  Level ``-1`` means "no information" (a side is missing): it contributes weight 0,
which is what keeps a blank phone from counting against a match.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from resolution.features import FeatureTable
from resolution.profile import ComparisonSpec, LevelSpec, Profile
from resolution.similarity import METRICS, metric_on_pairs

__all__ = ["NULL_LEVEL", "comparison_levels", "comparison_matrix", "levels_for_values"]

NULL_LEVEL = -1
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
LevelArray = npt.NDArray[np.int8]


class _MetricCache:
    """Full-length metric columns, filled for the pairs still undecided when first asked."""

    def __init__(self, n: int, comp: ComparisonSpec) -> None:
        self._n = n
        self._cols: dict[tuple[str, str], npt.NDArray[np.float64]] = {}
        self._loosest: dict[tuple[str, str], float] = {}
        for lv in comp.levels:
            key = (lv.kind, lv.key)
            t = 1.0 if lv.threshold is None else lv.threshold
            prev = self._loosest.get(key)
            if lv.kind == "damerau_levenshtein":
                self._loosest[key] = t if prev is None else max(prev, t)
            else:
                self._loosest[key] = t if prev is None else min(prev, t)

    def get(
        self, table: FeatureTable, metric: str, key: str, il: IntArray, ir: IntArray, idx: IntArray
    ) -> npt.NDArray[np.float64]:
        col = self._cols.get((metric, key))
        if col is None:
            col = np.full(self._n, np.nan)
            feat = table[key]
            cl, cr = feat.codes[il[idx]], feat.codes[ir[idx]]
            ok = (cl >= 0) & (cr >= 0)
            col[idx[ok]] = metric_on_pairs(
                metric,
                (feat.values, feat.values),
                (feat.char_profile, feat.char_profile),
                cl[ok],
                cr[ok],
                self._loosest[(metric, key)],
            )
            self._cols[(metric, key)] = col
        return col[idx]


def _equal(a: IntArray, b: IntArray) -> BoolArray:
    return np.asarray((a >= 0) & (a == b), dtype=np.bool_)


def _hit(
    table: FeatureTable,
    lv: LevelSpec,
    il: IntArray,
    ir: IntArray,
    idx: IntArray,
    cache: _MetricCache,
) -> BoolArray:
    """Which of the pairs ``idx`` satisfy level ``lv``."""
    li, ri = il[idx], ir[idx]
    if lv.kind == "exact":
        codes = table[lv.key].codes
        return _equal(codes[li], codes[ri])
    if lv.kind == "prefix":
        assert lv.threshold is not None
        codes = table.prefix_codes(lv.key, int(lv.threshold))
        return _equal(codes[li], codes[ri])
    if lv.kind == "cross_exact":
        assert lv.other is not None
        key_codes, other_codes = table.joint_codes(lv.key, lv.other)
        return _equal(key_codes[li], other_codes[ri]) | _equal(other_codes[li], key_codes[ri])
    values = cache.get(table, lv.kind, lv.key, il, ir, idx)
    if lv.kind == "jaro_winkler":
        assert lv.threshold is not None
        return np.asarray(values >= lv.threshold)
    if lv.kind == "damerau_levenshtein":
        assert lv.threshold is not None
        return np.asarray(values <= lv.threshold)
    return np.asarray(values == 1.0)  # transposition, date_swap: boolean metrics


def comparison_levels(
    table: FeatureTable, comp: ComparisonSpec, il: IntArray, ir: IntArray
) -> LevelArray:
    """Level index per pair: 0.. for the listed levels, ``len(levels)`` for else, -1 null."""
    n = len(il)
    out = np.full(n, len(comp.levels), dtype=np.int8)
    null_codes = table[comp.null_key].codes
    null = (null_codes[il] < 0) | (null_codes[ir] < 0)
    if comp.when_either is not None:
        either = table[comp.when_either].codes
        null |= (either[il] < 0) & (either[ir] < 0)
    out[null] = NULL_LEVEL
    pending = ~null
    cache = _MetricCache(n, comp)
    for index, lv in enumerate(comp.levels):
        idx = np.flatnonzero(pending)
        if len(idx) == 0:
            break
        hit = _hit(table, lv, il, ir, idx, cache)
        out[idx[hit]] = index
        pending[idx[hit]] = False
    return out


def comparison_matrix(
    table: FeatureTable, profile: Profile, il: IntArray, ir: IntArray
) -> LevelArray:
    """Levels for every comparison: shape ``(pairs, comparisons)``, dtype int8."""
    out = np.empty((len(il), len(profile.comparisons)), dtype=np.int8)
    for k, comp in enumerate(profile.comparisons):
        out[:, k] = comparison_levels(table, comp, il, ir)
    return out


def _level_hit_values(
    lv: LevelSpec, left: Mapping[str, str | None], right: Mapping[str, str | None]
) -> bool:
    a, b = left.get(lv.key), right.get(lv.key)
    if lv.kind == "cross_exact":
        assert lv.other is not None
        a2, b2 = left.get(lv.other), right.get(lv.other)
        return (a is not None and a == b2) or (a2 is not None and a2 == b)
    if a is None or b is None:
        return False
    if lv.kind == "exact":
        return a == b
    if lv.kind == "prefix":
        n = int(lv.threshold or 0)
        return len(a) >= n and len(b) >= n and a[:n] == b[:n]
    value = METRICS[lv.kind](a, b)
    if lv.kind == "jaro_winkler":
        return value >= (lv.threshold or 0.0)
    if lv.kind == "damerau_levenshtein":
        return value <= (lv.threshold or 0.0)
    return value == 1.0


def levels_for_values(
    profile: Profile, left: Mapping[str, str | None], right: Mapping[str, str | None]
) -> list[int]:
    """The comparison vector of one pair given feature values, in plain Python.

    Same answer as :func:`comparison_matrix` (a test holds them together), but with no
    table: this is how one incoming record is scored against a few candidates quickly.
    """
    out = []
    for comp in profile.comparisons:
        if left.get(comp.null_key) is None or right.get(comp.null_key) is None:
            out.append(NULL_LEVEL)
            continue
        when = comp.when_either
        if when is not None and left.get(when) is None and right.get(when) is None:
            out.append(NULL_LEVEL)
            continue
        level = len(comp.levels)
        for index, lv in enumerate(comp.levels):
            if _level_hit_values(lv, left, right):
                level = index
                break
        out.append(level)
    return out
