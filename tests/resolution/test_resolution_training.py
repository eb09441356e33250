"""m, u and λ are recovered from data generated with known parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from resolution import resolve
from resolution.profile import parse_profile
from resolution.training import Trainer

# field: (distinct values, probability a duplicate keeps the value)
FIELDS = {
    "a": (30, 0.90),
    "b": (100, 0.80),
    "c": (400, 0.95),
    "d": (1000, 0.85),
    "e": (60, 0.70),
}


def test_em_recovers_m_and_lambda_with_u_fixed() -> None:
    """Plain Fellegi–Sunter EM on comparison vectors drawn from a known mixture."""
    rng = np.random.default_rng(1)
    m_true = [np.array([0.85, 0.10, 0.05]), np.array([0.7, 0.3]), np.array([0.9, 0.06, 0.04])]
    u_true = [np.array([0.01, 0.09, 0.90]), np.array([0.05, 0.95]), np.array([0.002, 0.02, 0.978])]
    n, lam = 40_000, 0.05
    is_match = rng.random(n) < lam
    levels = np.empty((n, 3), dtype=np.int8)
    for k in range(3):
        levels[:, k] = np.where(
            is_match,
            rng.choice(len(m_true[k]), n, p=m_true[k]),
            rng.choice(len(u_true[k]), n, p=u_true[k]),
        )
    start = [np.full(len(m), 1 / len(m)) for m in m_true]
    m, lam_hat, _, _ = Trainer.em(levels, [0, 1, 2], start, u_true, 0.3, 200, 1e-7)
    assert lam_hat == pytest.approx(lam, rel=0.1)
    for got, want in zip(m, m_true, strict=True):
        np.testing.assert_allclose(got, want, atol=0.02)


def synthetic_records(seed: int = 3) -> tuple[pd.DataFrame, int]:
    """4,000 entities, half of them recorded twice with field-wise corruption."""
    rng = np.random.default_rng(seed)
    entities = 4000
    base = {f: rng.integers(0, card, entities) for f, (card, _) in FIELDS.items()}
    rows = {f: list(v) for f, v in base.items()}
    dup = rng.random(entities) < 0.5
    for f, (card, keep) in FIELDS.items():
        vals = base[f][dup]
        changed = rng.random(len(vals)) >= keep
        other = (vals + rng.integers(1, card, len(vals))) % card  # a different value
        rows[f].extend(np.where(changed, other, vals))
    frame = pd.DataFrame({f: [f"{f}{v}" for v in rows[f]] for f in FIELDS})
    frame["source"] = "s"
    frame["source_key"] = [str(i) for i in range(len(frame))]
    return frame, int(dup.sum())


PROFILE = {
    "name": "synthetic",
    "input": {"source_column": "source", "key_column": "source_key", "columns": list(FIELDS)},
    "features": {f: {"from": f, "normalise": ["strip"]} for f in FIELDS},
    "comparisons": [{"name": f, "key": f, "levels": [{"kind": "exact"}]} for f in FIELDS],
    "blocking": {"max_block_size": 10_000, "rules": [["b"], ["c"], ["d"]]},
    "training": {"u_max_pairs": 300_000, "em_rules": [["c"], ["d"]], "seed": 5},
    "thresholds": {"match_probability": 0.5, "review_probability": 0.1},
}


def test_fit_recovers_known_m_u_and_lambda() -> None:
    records, true_pairs = synthetic_records()
    result = resolve(records, parse_profile(PROFILE))
    model = result.model
    n = len(records)
    assert model.lam == pytest.approx(true_pairs / (n * (n - 1) / 2), rel=0.2)
    for comp in model.comparisons:
        card, keep = FIELDS[comp.name]
        assert comp.m[0] == pytest.approx(keep, abs=0.03), comp.name
        assert comp.u[0] == pytest.approx(1 / card, rel=0.15), comp.name


def _em_per_pair(
    levels: np.ndarray, active: list[int], m: list[np.ndarray], u: list[np.ndarray], lam: float
) -> tuple[list[np.ndarray], float, int]:
    """EM summed pair by pair, as it was before patterns: the reference."""
    from resolution.model import MIN_PROBABILITY, logit2

    m = [x.copy() for x in m]
    for iterations in range(1, 101):  # noqa: B007
        logit = np.full(len(levels), logit2(lam))
        for k in active:
            logit += np.append(np.log2(np.maximum(m[k], MIN_PROBABILITY) / u[k]), 0.0)[levels[:, k]]
        post = 1.0 / (1.0 + np.exp2(-np.clip(logit, -60, 60)))
        new_lam = float(post.mean())
        change = abs(new_lam - lam)
        for k in active:
            ok = levels[:, k] != -1
            counts = np.bincount(levels[ok, k], weights=post[ok], minlength=len(m[k]))
            new_m = (counts + 0.5) / (counts.sum() + 0.5 * len(counts))
            change = max(change, float(np.abs(new_m - m[k]).max()))
            m[k] = new_m
        lam = min(max(new_lam, MIN_PROBABILITY), 1 - MIN_PROBABILITY)
        if change < 1e-4:
            break
    return m, lam, iterations


def test_em_over_distinct_patterns_equals_em_over_pairs() -> None:
    """Patterns weighted by their counts give EM the same sums as the pairs themselves
    (nulls included: a null column must count for neither level nor mass)."""
    rng = np.random.default_rng(4)
    n = 30_000
    is_match = rng.random(n) < 0.2
    levels = np.empty((n, 4), dtype=np.int8)
    for k, size in enumerate((3, 2, 4, 3)):
        hi = rng.integers(0, 2, n)  # matches sit at the low levels
        lo = rng.integers(size - 2, size, n)
        levels[:, k] = np.where(is_match, hi, lo)
        levels[rng.random(n) < 0.1, k] = -1
    u = [np.full(s, 1 / s) for s in (3, 2, 4, 3)]
    start = [np.full(s, 1 / s) for s in (3, 2, 4, 3)]
    active = [0, 2, 3]  # one comparison left out, as a blocking rule's own fields are
    want_m, want_lam, want_its = _em_per_pair(levels, active, start, u, 0.1)
    got_m, got_lam, got_its, mass = Trainer.em(levels, active, start, u, 0.1, 100)
    assert got_its == want_its
    assert got_lam == pytest.approx(want_lam, rel=1e-12)
    for k in active:
        np.testing.assert_allclose(got_m[k], want_m[k], rtol=1e-12)
        assert mass[k].sum() == pytest.approx(want_lam * (levels[:, k] != -1).sum(), rel=0.05)
    np.testing.assert_array_equal(got_m[1], start[1])  # not active: untouched
