"""Sort-based set operations on integer arrays.

NumPy 2.x's ``np.unique`` without ``return_*`` switches to a hash table that measured
80x slower than sorting on millions of int64 pair codes here (22 s against 0.3 s for
5M values), so the engine uses these two helpers everywhere instead.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["unique_inverse", "unique_sorted"]

IntArray = npt.NDArray[np.int64]


def unique_sorted(values: IntArray) -> IntArray:
    """Distinct values, ascending."""
    ordered = np.sort(values)
    if len(ordered) == 0:
        return ordered
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]]


def unique_inverse(values: IntArray) -> tuple[IntArray, IntArray]:
    """Distinct values (ascending) and, per input, the index of its value among them."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]] if len(ordered) else np.zeros(0, bool)
    inverse = np.empty(len(values), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first], inverse
