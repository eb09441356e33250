"""String metrics evaluated once per distinct pair of values, never once per record pair.

Record pairs repeat value pairs heavily (every 王伟 in a block meets every other one), so
the metric runs on unique ``(left code, right code)`` combinations and is broadcast back.
``jellyfish`` (Rust) computes Jaro–Winkler and Damerau–Levenshtein when installed; the
pure-Python fallbacks give identical answers, only slower, so results never depend on
which is present.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from resolution.arrays import unique_inverse

__all__ = [
    "METRICS",
    "CharProfile",
    "char_profile",
    "damerau_levenshtein",
    "date_swap",
    "jaro_winkler",
    "metric_on_pairs",
    "transposition",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _jaro_winkler_py(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    la, lb = len(a), len(b)
    window = max(max(la, lb) // 2 - 1, 0)
    used = [False] * lb
    matched_a = []
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(lb, i + window + 1)):
            if not used[j] and b[j] == ch:
                used[j] = True
                matched_a.append(ch)
                break
    m = len(matched_a)
    if m == 0:
        return 0.0
    matched_b = [b[j] for j in range(lb) if used[j]]
    # jellyfish halves the mismatch count with floor division; so must we, to agree
    transpositions = sum(x != y for x, y in zip(matched_a, matched_b, strict=True)) // 2
    jaro = (m / la + m / lb + (m - transpositions) / m) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * 0.1 * (1 - jaro) if jaro > 0.7 else jaro


def _damerau_levenshtein_py(a: str, b: str) -> int:
    """Unrestricted Damerau–Levenshtein (as jellyfish), so both paths agree."""
    inf = len(a) + len(b)
    last: dict[str, int] = {}
    d = [[inf] * (len(b) + 2) for _ in range(len(a) + 2)]
    for i in range(len(a) + 1):
        d[i + 1][0], d[i + 1][1] = inf, i
    for j in range(len(b) + 1):
        d[0][j + 1], d[1][j + 1] = inf, j
    for i in range(1, len(a) + 1):
        db = 0
        for j in range(1, len(b) + 1):
            i1, j1 = last.get(b[j - 1], 0), db
            cost = 1
            if a[i - 1] == b[j - 1]:
                cost, db = 0, j
            d[i + 1][j + 1] = min(
                d[i][j] + cost,
                d[i + 1][j] + 1,
                d[i][j + 1] + 1,
                d[i1][j1] + (i - i1 - 1) + 1 + (j - j1 - 1),
            )
        last[a[i - 1]] = i
    return d[len(a) + 1][len(b) + 1]


try:  # pragma: no branch - environment dependent
    from jellyfish import damerau_levenshtein_distance as _dl_fast
    from jellyfish import jaro_winkler_similarity as _jw_fast

    jaro_winkler: Callable[[str, str], float] = _jw_fast
    damerau_levenshtein: Callable[[str, str], int] = _dl_fast
except ImportError:  # pragma: no cover - exercised only without jellyfish
    jaro_winkler = _jaro_winkler_py
    damerau_levenshtein = _damerau_levenshtein_py


def transposition(a: str, b: str) -> bool:
    """Exactly one adjacent pair swapped: the commonest keying error in long numbers."""
    if len(a) != len(b) or a == b:
        return False
    diff = [k for k in range(len(a)) if a[k] != b[k]]
    return (
        len(diff) == 2
        and diff[1] == diff[0] + 1
        and a[diff[0]] == b[diff[1]]
        and a[diff[1]] == b[diff[0]]
    )


def date_swap(a: str, b: str) -> bool:
    """YYYYMMDD values with month and day exchanged (US/Chinese order confusion)."""
    if len(a) != 8 or len(b) != 8 or a == b:
        return False
    return a[:4] == b[:4] and a[4:6] == b[6:8] and a[6:8] == b[4:6]


METRICS: dict[str, Callable[[str, str], float]] = {
    "jaro_winkler": jaro_winkler,
    "damerau_levenshtein": lambda a, b: float(damerau_levenshtein(a, b)),
    "transposition": lambda a, b: float(transposition(a, b)),
    "date_swap": lambda a, b: float(date_swap(a, b)),
}


_BUCKETS = 64
_HEAD = 4
_CHUNK = 1 << 16


@dataclass(frozen=True)
class CharProfile:
    """Per value: length, character-bucket bitmask and histogram, first characters.

    Enough to bound string metrics with vector arithmetic (see ``_may_pass``).
    """

    lengths: IntArray
    mask: npt.NDArray[np.uint64]
    hist: npt.NDArray[np.uint16]
    head: npt.NDArray[np.uint32]


def char_profile(values: npt.NDArray[np.object_]) -> CharProfile:
    texts = [str(v) for v in values]
    n = len(texts)
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=n)
    points = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
    rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
    buckets = (points % _BUCKETS).astype(np.int64)
    hist = np.bincount(rows * _BUCKETS + buckets, minlength=n * _BUCKETS).reshape(n, _BUCKETS)
    weights = np.left_shift(np.uint64(1), np.arange(_BUCKETS, dtype=np.uint64))
    mask = np.bitwise_or.reduce(np.where(hist > 0, weights, np.uint64(0)), axis=1)
    starts = np.cumsum(lengths) - lengths
    head = np.zeros((n, _HEAD), dtype=np.uint32)
    for pos in range(_HEAD):
        has = lengths > pos
        head[has, pos] = points[starts[has] + pos]
    used = hist.any(axis=0)  # digits-only fields need 10 columns, not 64
    return CharProfile(lengths, mask.astype(np.uint64), hist[:, used].astype(np.uint16), head)


def _jaro_bound(common: FloatArray, la: IntArray, lb: IntArray, prefix: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        jaro = (common / la + common / lb + 1.0) / 3.0
    return np.asarray(np.where(common > 0, jaro + 0.1 * prefix * (1.0 - jaro), 0.0))


def _passes(metric: str, loosest: float, common: FloatArray, la: IntArray, lb: IntArray) -> Any:
    if metric == "jaro_winkler":
        return _jaro_bound(common, la, lb, np.full(len(la), 4.0)) >= loosest - 1e-9
    if metric == "damerau_levenshtein":
        return np.maximum(la, lb) - common <= loosest
    return (la == lb) & (common == la)  # transposition, date_swap: same characters


def _may_pass(
    metric: str,
    loosest: float,
    pl: CharProfile,
    pr: CharProfile,
    cl: IntArray,
    cr: IntArray,
) -> npt.NDArray[np.bool_]:
    """Pairs that could reach the loosest threshold; the rest provably cannot.

    ``common`` bounds the characters two strings share from above, which bounds Jaro from
    above and edit distance from below (each edit changes it by at most one); the shared
    first characters bound the Winkler bonus.  Three sieves of rising cost: bucket
    bitmasks (characters of one string absent from the other), bucket histograms, then
    the actual shared prefix.  Most random pairs fall at the first.
    """
    la, lb = pl.lengths[cl], pr.lengths[cr]
    ma, mb = pl.mask[cl], pr.mask[cr]
    only_a = np.bitwise_count(ma & ~mb).astype(np.int64)
    only_b = np.bitwise_count(mb & ~ma).astype(np.int64)
    common = np.minimum(la - only_a, lb - only_b).astype(np.float64)
    ok = np.asarray(_passes(metric, loosest, common, la, lb), dtype=bool)
    idx = np.flatnonzero(ok)
    for start in range(0, len(idx), _CHUNK):
        part = idx[start : start + _CHUNK]
        a, b = cl[part], cr[part]
        la2, lb2 = la[part], lb[part]
        exact = np.minimum(pl.hist[a], pr.hist[b]).sum(axis=1).astype(np.float64)
        keep = np.asarray(_passes(metric, loosest, exact, la2, lb2), dtype=bool)
        if metric == "jaro_winkler":
            ha, hb = pl.head[a], pr.head[b]
            prefix = np.cumprod((ha == hb) & (ha != 0), axis=1).sum(axis=1).astype(np.float64)
            keep &= _jaro_bound(exact, la2, lb2, prefix) >= loosest - 1e-9
        ok[part] = keep
    return ok


def metric_on_pairs(
    metric: str,
    values: tuple[npt.NDArray[np.object_], npt.NDArray[np.object_]],
    profiles: tuple[CharProfile, CharProfile],
    codes_l: IntArray,
    codes_r: IntArray,
    loosest: float,
) -> FloatArray:
    """``metric(left value, right value)`` per pair, with ``fail`` where it cannot pass.

    Pairs that provably miss the loosest threshold get a value that fails every level
    (0 similarity, or a distance above ``loosest``), so callers can threshold uniformly.
    """
    fail = loosest + 1.0 if metric == "damerau_levenshtein" else 0.0
    if len(codes_l) == 0:
        return np.empty(0, dtype=np.float64)
    fn = METRICS[metric]
    width = np.int64(len(values[1]))
    uniq, inverse = unique_inverse(codes_l * width + codes_r)
    ul, ur = uniq // width, uniq % width
    out = np.full(len(uniq), fail, dtype=np.float64)
    todo = np.flatnonzero(_may_pass(metric, loosest, profiles[0], profiles[1], ul, ur))
    left, right = values[0][ul[todo]], values[1][ur[todo]]
    out[todo] = np.fromiter(
        (fn(a, b) for a, b in zip(left, right, strict=True)), dtype=np.float64, count=len(todo)
    )
    return out[inverse]
