"""Turning pairwise matches into persons without letting a chain glue strangers together.

Plain connected components are transitive: A–B and B–C matching merges A and C even if A
and C hold two different valid resident IDs, which in a master person index is the worst
error there is (two citizens' benefits, cases and records become one).  So matches are
applied strongest first, Kruskal-style, and each person tracks the value it holds for
every *conflict feature* (e.g. the checksum-valid resident ID).  A merge that would give
one person two different values is refused and the pair is sent to review instead.
Strongest-first means the refused link is always the weakest one in the chain, which is
the one a clerk should look at.

A clerk's decisions outrank the model: *must-link* pairs (an accepted review, a manual
merge) are joined before any scored edge, and *cannot-link* pairs (a rejected review, an
unmerge) are enforced like a conflict feature, for the whole person and not only for the
two records, so no chain of other matches can bring a rejected pair back together.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from resolution.arrays import unique_inverse

__all__ = ["CANNOT_LINK", "CONFLICT", "constrained_components"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
PairArrays = tuple[IntArray, IntArray]

#: Why an edge was refused (codes in the returned ``refused`` array; 0: not refused).
CONFLICT, CANNOT_LINK = 1, 2


class _Forest:
    """Union-find whose roots carry conflict values and cannot-link tags."""

    def __init__(self, n: int, conflict_codes: list[IntArray], cannot: PairArrays | None):
        self.parent = list(range(n))
        self.size = [1] * n
        self.held = [codes.tolist() for codes in conflict_codes]
        # tag 2k is one side of cannot-link pair k, 2k+1 the other: a person holding
        # both tags of one pair would join what a clerk said are two people
        self.tags: dict[int, set[int]] = {}
        if cannot is not None:
            for k, (a, b) in enumerate(zip(cannot[0].tolist(), cannot[1].tolist(), strict=True)):
                self.tags.setdefault(a, set()).add(2 * k)
                self.tags.setdefault(b, set()).add(2 * k + 1)

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def blocked(self, ra: int, rb: int, *, check_conflicts: bool) -> int:
        if check_conflicts and any(v[ra] >= 0 and v[rb] >= 0 and v[ra] != v[rb] for v in self.held):
            return CONFLICT
        ta, tb = self.tags.get(ra), self.tags.get(rb)
        if ta and tb:
            small, large = (ta, tb) if len(ta) <= len(tb) else (tb, ta)
            if any((t ^ 1) in large for t in small):
                return CANNOT_LINK
        return 0

    def union(self, ra: int, rb: int) -> None:
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        for v in self.held:
            if v[ra] < 0:
                v[ra] = v[rb]
        tb = self.tags.pop(rb, None)
        if tb:
            self.tags.setdefault(ra, set()).update(tb)


def constrained_components(
    n: int,
    left: IntArray,
    right: IntArray,
    weight: FloatArray,
    conflict_codes: list[IntArray],
    *,
    must: PairArrays | None = None,
    cannot: PairArrays | None = None,
) -> tuple[IntArray, npt.NDArray[np.int8]]:
    """Person index per record (0..P-1, by first record) and why each edge was refused.

    ``conflict_codes[c][i]`` is record ``i``'s value code for conflict feature ``c`` (-1:
    none).  Every edge passed in is a match; refused ones carry ``CONFLICT`` or
    ``CANNOT_LINK`` in the second array.  Must-link pairs are joined first and may join
    two different valid IDs (a human said so), but never across a cannot-link.
    """
    forest = _Forest(n, conflict_codes, cannot)
    if must is not None:
        for a, b in zip(must[0].tolist(), must[1].tolist(), strict=True):
            ra, rb = forest.find(a), forest.find(b)
            if ra != rb and not forest.blocked(ra, rb, check_conflicts=False):
                forest.union(ra, rb)
    refused = np.zeros(len(left), dtype=np.int8)
    order = np.argsort(-weight, kind="stable")
    lefts, rights = left.tolist(), right.tolist()
    for e in order.tolist():
        ra, rb = forest.find(lefts[e]), forest.find(rights[e])
        if ra == rb:
            continue
        why = forest.blocked(ra, rb, check_conflicts=True)
        if why:
            refused[e] = why
            continue
        forest.union(ra, rb)
    roots = np.fromiter((forest.find(i) for i in range(n)), dtype=np.int64, count=n)
    _, labels = unique_inverse(roots)
    # renumber by first appearance so person numbering follows input order
    first = np.full(labels.max(initial=-1) + 1, n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(n))
    rank = np.empty_like(first)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[labels].astype(np.int64), refused
