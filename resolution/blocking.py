"""Blocking: which record pairs are worth scoring at all.

Scoring every pair is quadratic (a 1M-resident district has 5·10¹¹ pairs), so candidate
pairs are the union of several cheap equality rules, each catching the duplicates the
others miss (an ID typo still shares the birth date and surname; a new phone still shares
the ID).  A block larger than ``max_block_size`` is skipped and counted rather than
expanded: a huge block means the key is not discriminating (a default birth date, a
shared switchboard number) and would swamp the run with pairs that carry no evidence.
Everything is sort-based numpy over integer codes; no database is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from resolution.arrays import unique_sorted
from resolution.features import FeatureTable
from resolution.profile import BlockingRule, LinkType

__all__ = ["BlockingStats", "candidate_pairs", "pairs_for_rule", "rule_keys"]

IntArray = npt.NDArray[np.int64]


@dataclass
class BlockingStats:
    """Counts only: block keys are personal data and never leave the engine."""

    pairs_per_rule: dict[str, int] = field(default_factory=dict)
    skipped_blocks: dict[str, int] = field(default_factory=dict)
    skipped_records: dict[str, int] = field(default_factory=dict)
    candidate_pairs: int = 0


def _combine(a: IntArray, b: IntArray) -> IntArray:
    """Composite key of two code columns, re-factorised so it never overflows."""
    width = int(max(a.max(initial=0), b.max(initial=0))) + 1
    raw = np.where((a >= 0) & (b >= 0), a * width + b, -1)
    codes, _ = pd.factorize(raw, sort=False)
    codes = codes.astype(np.int64)
    return np.where(raw >= 0, codes, -1)


def rule_keys(table: FeatureTable, rule: BlockingRule) -> tuple[IntArray, IntArray]:
    """Left and right block keys per record (-1: record not blocked by this rule)."""
    left: IntArray | None = None
    right: IntArray | None = None
    n = table.n
    for a, b in rule.terms:
        lc, rc = table.joint_codes(a, b)
        if left is None or right is None:
            left, right = lc, rc
            continue
        both = _combine(np.concatenate([left, right]), np.concatenate([lc, rc]))
        left, right = both[:n], both[n:]
    assert left is not None
    assert right is not None
    return left, right


def _within_groups(key: IntArray, cap: int) -> tuple[IntArray, IntArray, int, int]:
    """All pairs of records sharing a key; groups above ``cap`` are skipped."""
    idx = np.flatnonzero(key >= 0)
    order = idx[np.argsort(key[idx], kind="stable")]
    ks = key[order]
    if len(ks) < 2:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, 0, 0
    starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    sizes = np.diff(np.r_[starts, len(ks)])
    too_big = sizes > cap
    ends = np.repeat(starts + sizes, sizes)
    ok = np.repeat(~too_big, sizes)
    pos = np.arange(len(ks))
    cnt = np.where(ok, ends - pos - 1, 0)
    total = int(cnt.sum())
    lp = np.repeat(pos, cnt)
    offs = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    rp = lp + 1 + offs
    return order[lp], order[rp], int(too_big.sum()), int(sizes[too_big].sum())


def _across(left: IntArray, right: IntArray, cap: int) -> tuple[IntArray, IntArray, int, int]:
    """Pairs (i, j) with ``left[i] == right[j]``, for rules such as swapped name fields."""
    ridx = np.flatnonzero(right >= 0)
    rorder = ridx[np.argsort(right[ridx], kind="stable")]
    rs = right[rorder]
    lidx = np.flatnonzero(left >= 0)
    lo = np.searchsorted(rs, left[lidx], side="left")
    hi = np.searchsorted(rs, left[lidx], side="right")
    cnt = hi - lo
    big = cnt > cap
    skipped = len(unique_sorted(left[lidx][big]))
    cnt = np.where(big, 0, cnt)
    total = int(cnt.sum())
    li = np.repeat(lidx, cnt)
    offs = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    ri = rorder[np.repeat(lo, cnt) + offs]
    keep = li != ri
    return li[keep], ri[keep], skipped, int(big.sum())


def pairs_for_rule(
    table: FeatureTable, rule: BlockingRule, link_type: LinkType, cap: int
) -> tuple[IntArray, IntArray, int, int]:
    """Ordered pairs ``i < j`` from one rule, plus skipped block and record counts."""
    left, right = rule_keys(table, rule)
    if rule.symmetric:
        i, j, skipped, skipped_records = _within_groups(left, cap)
    else:
        i, j, skipped, skipped_records = _across(left, right, cap)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    if link_type == "link_only" and len(table.source_names) > 1:
        keep = table.source[lo] != table.source[hi]
        lo, hi = lo[keep], hi[keep]
    return lo, hi, skipped, skipped_records


def candidate_pairs(
    table: FeatureTable,
    rules: tuple[BlockingRule, ...],
    link_type: LinkType,
    cap: int,
    eligible: npt.NDArray[np.bool_] | None = None,
) -> tuple[IntArray, IntArray, BlockingStats]:
    """The union of all rules' pairs, each pair once, sorted; ``eligible`` masks records."""
    stats = BlockingStats()
    chunks = []
    n = np.int64(table.n)
    for rule in rules:
        i, j, skipped, skipped_records = pairs_for_rule(table, rule, link_type, cap)
        if eligible is not None:
            keep = eligible[i] & eligible[j]
            i, j = i[keep], j[keep]
        stats.pairs_per_rule[str(rule)] = len(i)
        stats.skipped_blocks[str(rule)] = skipped
        stats.skipped_records[str(rule)] = skipped_records
        chunks.append(i * n + j)
    coded = unique_sorted(np.concatenate(chunks)) if chunks else np.empty(0, dtype=np.int64)
    stats.candidate_pairs = len(coded)
    return coded // n, coded % n, stats
