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

__all__ = [
    "BlockingStats",
    "candidate_pairs",
    "pairs_for_rule",
    "rule_keys",
    "sample_rule_pairs",
]

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


def _triangle_rows(offset: IntArray, size: IntArray) -> IntArray:
    """Row ``a`` of pair number ``offset`` in a block of ``size`` listed row by row
    (row ``a`` pairs member ``a`` with every later member: ``size - 1 - a`` pairs)."""
    e = size.astype(np.float64)
    disc = np.maximum((2 * e - 1) ** 2 - 8 * offset.astype(np.float64), 0.0)
    a = np.floor((2 * e - 1 - np.sqrt(disc)) / 2).astype(np.int64)
    a = np.clip(a, 0, np.maximum(size - 2, 0))
    for _ in range(2):  # float rounding can leave ``a`` one row off either way
        start = a * size - a * (a + 1) // 2
        a = np.where(offset < start, a - 1, a)
        nxt = (a + 1) * size - (a + 1) * (a + 2) // 2
        a = np.where(offset >= nxt, a + 1, a)
    return a


def sample_rule_pairs(
    table: FeatureTable,
    rule: BlockingRule,
    link_type: LinkType,
    cap: int,
    eligible: npt.NDArray[np.bool_],
    count: int,
    rng: np.random.Generator,
) -> tuple[IntArray, IntArray]:
    """The pairs of one rule among ``eligible`` records, or a uniform sample of ``count``
    of them when there are more: EM at a million residents samples 2M of the ~80M
    birth-date pairs, and listing all 80M only to keep 2M cost most of the training.

    The sample is exactly the one drawing ``count`` positions (sorted) out of the full
    list of :func:`pairs_for_rule` filtered to ``eligible`` would give, with the same
    ``rng`` draw, so results do not depend on which way it was taken.  Only symmetric
    rules outside ``link_only`` are counted without listing; others are listed.
    """
    cross = link_type == "link_only" and len(table.source_names) > 1
    if not rule.symmetric or cross:
        return _listed_sample(table, rule, link_type, cap, eligible, count, rng)
    key, _ = rule_keys(table, rule)
    idx = np.flatnonzero(key >= 0)
    order = idx[np.argsort(key[idx], kind="stable")]
    ks = key[order]
    if len(ks) < 2:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    sizes = np.diff(np.r_[starts, len(ks)])
    # blocks above the cap are skipped whoever is eligible in them (as in pairs_for_rule)
    member = np.repeat(sizes <= cap, sizes) & eligible[order]
    block = np.repeat(np.arange(len(starts)), sizes)[member]
    members = order[member]  # eligible members, still in listing order
    size = np.bincount(block, minlength=len(starts)).astype(np.int64)
    per_block = size * (size - 1) // 2
    total = int(per_block.sum())
    if total <= count:
        return _listed_sample(table, rule, link_type, cap, eligible, count, rng)
    pick = np.sort(rng.choice(total, size=count, replace=False))
    ends = np.cumsum(per_block)
    b = np.searchsorted(ends, pick, side="right")
    offset = pick - (ends[b] - per_block[b])
    a = _triangle_rows(offset, size[b])
    row_start = a * size[b] - a * (a + 1) // 2
    c = a + 1 + (offset - row_start)
    first = np.cumsum(size) - size  # first member of each block among ``members``
    i, j = members[first[b] + a], members[first[b] + c]
    return np.minimum(i, j), np.maximum(i, j)


def _listed_sample(
    table: FeatureTable,
    rule: BlockingRule,
    link_type: LinkType,
    cap: int,
    eligible: npt.NDArray[np.bool_],
    count: int,
    rng: np.random.Generator,
) -> tuple[IntArray, IntArray]:
    il, ir, _, _ = pairs_for_rule(table, rule, link_type, cap)
    keep = eligible[il] & eligible[ir]
    il, ir = il[keep], ir[keep]
    if len(il) > count:
        pick = np.sort(rng.choice(len(il), size=count, replace=False))
        il, ir = il[pick], ir[pick]
    return il, ir


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
