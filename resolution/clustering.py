"""Turning pairwise matches into persons without letting a chain glue strangers together.

Plain connected components are transitive: A–B and B–C matching merges A and C even if A
and C hold two different valid resident IDs, which in a master person index is the worst
error there is (two citizens' benefits, cases and records become one).  So matches are
applied strongest first, Kruskal-style, and each person tracks the value it holds for
every *conflict feature* (e.g. the checksum-valid resident ID).  A merge that would give
one person two different values is refused and the pair is sent to review instead.
Strongest-first means the refused link is always the weakest one in the chain, which is
the one a clerk should look at.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from resolution.arrays import unique_inverse

__all__ = ["constrained_components"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def constrained_components(
    n: int,
    left: IntArray,
    right: IntArray,
    weight: FloatArray,
    conflict_codes: list[IntArray],
) -> tuple[IntArray, BoolArray]:
    """Person index per record (0..P-1, by first record) and which edges were refused.

    ``conflict_codes[c][i]`` is record ``i``'s value code for conflict feature ``c`` (-1:
    none).  Every edge passed in is a match; refused ones are flagged in the second array.
    """
    parent = list(range(n))
    size = [1] * n
    held = [codes.tolist() for codes in conflict_codes]
    refused = np.zeros(len(left), dtype=bool)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    order = np.argsort(-weight, kind="stable")
    lefts, rights = left.tolist(), right.tolist()
    for e in order.tolist():
        ra, rb = find(lefts[e]), find(rights[e])
        if ra == rb:
            continue
        if any(v[ra] >= 0 and v[rb] >= 0 and v[ra] != v[rb] for v in held):
            refused[e] = True
            continue
        if size[ra] < size[rb]:
            ra, rb = rb, ra
        parent[rb] = ra
        size[ra] += size[rb]
        for v in held:
            if v[ra] < 0:
                v[ra] = v[rb]
    roots = np.fromiter((find(i) for i in range(n)), dtype=np.int64, count=n)
    _, labels = unique_inverse(roots)
    # renumber by first appearance so person numbering follows input order
    first = np.full(labels.max(initial=-1) + 1, n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(n))
    rank = np.empty_like(first)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[labels].astype(np.int64), refused
