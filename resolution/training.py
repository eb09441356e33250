"""Estimating the model from the data itself: u by sampling, m by EM, λ from candidates.

* **u** (agreement among non-matches) from random record pairs, which are almost all
  non-matches.  For an ``exact`` first level the share is computed from value counts over
  *all* pairs, with no sampling noise, which matters for rare agreements such as IDs.
* **m** (agreement among matches) by expectation maximisation with u fixed, once per
  training blocking rule, leaving out the comparisons that rule blocks on (within the
  block they agree by construction); each m is the mean over the sessions that saw it.
  This is Splink's procedure; profile priors are only the starting point.
* **λ** by one-parameter EM over all pairs, with the pairs blocking never proposes taken
  as non-matches (blocking keeps nearly every true match): the expected matches among
  the candidates *are* the expected matches overall, so no guess of recall is needed.
* Random pairs contain a few true matches (about λ of them); once m and λ are known their
  share is removed from u, so an ID agreement is not discounted by the duplicates
  themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from resolution.arrays import unique_inverse
from resolution.blocking import sample_rule_pairs
from resolution.comparisons import NULL_LEVEL, comparison_matrix
from resolution.features import FeatureTable
from resolution.model import MIN_PROBABILITY, ComparisonParams, Model, logit2
from resolution.profile import ComparisonSpec, LinkType, Profile

__all__ = ["Trainer", "distinct_rows", "total_pairs"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
LevelArray = npt.NDArray[np.int8]
BoolArray = npt.NDArray[np.bool_]


def total_pairs(table: FeatureTable, link_type: LinkType, eligible: BoolArray) -> float:
    """Number of record pairs the link type considers, among eligible records."""
    sizes = np.bincount(table.source[eligible], minlength=len(table.source_names))
    n = float(sizes.sum())
    if link_type == "link_only" and len(table.source_names) > 1:
        return (n * n - float((sizes.astype(np.float64) ** 2).sum())) / 2
    return n * (n - 1) / 2


def _default_m(comp: ComparisonSpec) -> FloatArray:
    """Start values: mostly the first level, a little everywhere else."""
    count = len(comp.levels) + 1
    m = np.full(count, 0.1 / max(count - 1, 1))
    m[0] = 0.9
    for i, lv in enumerate(comp.levels):
        if lv.m_prior is not None:
            m[i] = float(lv.m_prior)
    return np.asarray(m / m.sum())


def distinct_rows(levels: LevelArray, active: list[int]) -> tuple[LevelArray, FloatArray]:
    """The distinct level vectors over the ``active`` comparisons, and how many pairs show
    each.  EM's sums over pairs are the same sums over patterns weighted by their counts,
    and a few thousand patterns stand for the millions of pairs of a training session, so
    each iteration costs next to nothing (columns not active are those of one of its pairs)."""
    if len(levels) == 0:
        return levels, np.zeros(0)
    code = np.zeros(len(levels), dtype=np.int64)
    span = 1
    for k in active:
        col = levels[:, k].astype(np.int64) + 1  # NULL_LEVEL (-1) becomes 0
        width = int(col.max()) + 1
        if span * width >= 1 << 62:  # re-number before the code could overflow
            _, code = unique_inverse(code)
            span = int(code.max()) + 1
        code = code * width + col
        span *= width
    _, inverse = unique_inverse(code)
    first = np.zeros(int(inverse.max()) + 1, dtype=np.int64)
    first[inverse] = np.arange(len(levels))  # some pair showing each pattern
    return levels[first], np.bincount(inverse).astype(np.float64)


class Trainer:
    """Fits a :class:`Model` for one feature table; stateless apart from its inputs."""

    def __init__(
        self, table: FeatureTable, profile: Profile, link_type: LinkType, eligible: BoolArray
    ) -> None:
        self.table = table
        self.profile = profile
        self.link_type = link_type
        self.eligible = eligible
        self.rng = np.random.default_rng(profile.seed)
        self.n_pairs = total_pairs(table, link_type, eligible)

    # --- u ------------------------------------------------------------------------------
    def random_pairs(self, count: int) -> tuple[IntArray, IntArray]:
        idx = np.flatnonzero(self.eligible)
        if len(idx) < 2:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        cross = self.link_type == "link_only" and len(self.table.source_names) > 1
        draw = count * (3 if cross else 1) + 16
        i = idx[self.rng.integers(0, len(idx), draw)]
        j = idx[self.rng.integers(0, len(idx), draw)]
        keep = i != j
        if cross:
            keep &= self.table.source[i] != self.table.source[j]
        i, j = i[keep][:count], j[keep][:count]
        return np.minimum(i, j), np.maximum(i, j)

    def _exact_share(self, key: str, null_key: str) -> float | None:
        """Share of all considered pairs (with both keys present) agreeing exactly on it."""
        feat = self.table[key]
        ok = self.eligible & (feat.codes >= 0) & (self.table[null_key].codes >= 0)
        codes = feat.codes[ok]
        if self.link_type == "link_only" and len(self.table.source_names) > 1:
            src = self.table.source[ok]
            width = np.int64(len(self.table.source_names))
            per_source = np.bincount(codes * width + src).astype(np.float64)
            per_value = np.bincount(codes).astype(np.float64)
            agree = float((per_value**2).sum() - (per_source**2).sum()) / 2
            sizes = np.bincount(src, minlength=int(width)).astype(np.float64)
            pairs = (sizes.sum() ** 2 - (sizes**2).sum()) / 2
        else:
            counts = np.bincount(codes).astype(np.float64)
            agree = float((counts * (counts - 1)).sum()) / 2
            pairs = len(codes) * (len(codes) - 1) / 2
        return agree / pairs if pairs > 0 else None

    def estimate_u(self) -> tuple[list[FloatArray], list[FloatArray]]:
        """Level shares among random pairs (the raw u) and the pairs behind each share."""
        count = int(min(self.profile.u_max_pairs, max(self.n_pairs, 1)))
        il, ir = self.random_pairs(count)
        levels = comparison_matrix(self.table, self.profile, il, ir)
        shares: list[FloatArray] = []
        sizes: list[FloatArray] = []
        for k, comp in enumerate(self.profile.comparisons):
            col = levels[:, k]
            col = col[col != NULL_LEVEL]
            n_levels = len(comp.levels) + 1
            counts = np.bincount(col, minlength=n_levels).astype(np.float64)
            share = counts / max(counts.sum(), 1.0)
            size = np.full(n_levels, max(float(counts.sum()), 1.0))
            first = comp.levels[0]
            # counted, not sampled: for a rare agreement (an ID, a full name) the random
            # sample holds too few to say, and a floor would inflate the weight
            countable = first.kind == "exact" and comp.when_either is None
            exact = self._exact_share(first.key, comp.null_key) if countable else None
            if exact is not None:
                rest = share[1:].sum()
                share[1:] = share[1:] * (1 - exact) / rest if rest > 0 else 0.0
                share[0] = exact
                size[0] = max(self.n_pairs, 1.0)
            shares.append(share)
            sizes.append(size)
        return shares, sizes

    # --- m by EM ------------------------------------------------------------------------
    def _blocked_comparisons(self, features: frozenset[str]) -> set[int]:
        """Comparisons reading any input column the rule's features read."""
        cols = {c for f in self.profile.features if f.name in features for c in f.sources}
        out = set()
        for k, comp in enumerate(self.profile.comparisons):
            used = {c for f in self.profile.features if f.name in comp.keys for c in f.sources}
            if used & cols:
                out.add(k)
        return out

    @staticmethod
    def em(
        levels: LevelArray,
        active: list[int],
        m: list[FloatArray],
        u: list[FloatArray],
        lam: float,
        max_iterations: int,
        tolerance: float = 1e-4,
    ) -> tuple[list[FloatArray], float, int, list[FloatArray]]:
        """EM over ``levels`` for the ``active`` comparisons; u stays fixed.

        Returns m, λ within these pairs, iterations, and the expected match count per
        level (how much evidence each m rests on).
        """
        m = [x.copy() for x in m]
        mass = [np.zeros_like(x) for x in m]
        iterations = 0
        patterns, times = distinct_rows(levels, active)
        total = max(float(times.sum()), 1.0)
        for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported to caller
            logit = np.full(len(patterns), logit2(lam))
            for k in active:
                w = np.append(np.log2(np.maximum(m[k], MIN_PROBABILITY) / u[k]), 0.0)
                logit += w[patterns[:, k]]
            post = 1.0 / (1.0 + np.exp2(-np.clip(logit, -60, 60)))
            expected = post * times  # expected matches among the pairs showing each pattern
            new_lam = float(expected.sum()) / total
            change = abs(new_lam - lam)
            for k in active:
                col = patterns[:, k]
                ok = col != NULL_LEVEL
                counts = np.bincount(col[ok], weights=expected[ok], minlength=len(m[k])).astype(
                    float
                )
                # half a pseudo-observation per level: a level EM never saw among matches
                # gets a small m, not a zero that would veto a pair on its own
                new_m = (counts + 0.5) / (counts.sum() + 0.5 * len(counts))
                change = max(change, float(np.abs(new_m - m[k]).max()))
                m[k], mass[k] = new_m, counts
            lam = min(max(new_lam, MIN_PROBABILITY), 1 - MIN_PROBABILITY)
            if change < tolerance:
                break
        return m, lam, iterations, mass

    def estimate_m(
        self, u: list[FloatArray]
    ) -> tuple[list[FloatArray], list[int], list[FloatArray], list[dict[str, Any]]]:
        """m per comparison (mean over sessions), sessions, and expected matches per level."""
        comps = self.profile.comparisons
        priors = [_default_m(c) for c in comps]
        sums = [np.zeros_like(p) for p in priors]
        masses = [np.zeros_like(p) for p in priors]
        seen = [0] * len(comps)
        history: list[dict[str, Any]] = []
        for rule in self.profile.em_rules:
            # beyond the cap a uniform sample estimates the same m
            cap = self.profile.em_max_pairs
            il, ir = sample_rule_pairs(
                self.table,
                rule,
                self.link_type,
                self.profile.max_block_size,
                self.eligible,
                np.iinfo(np.int64).max if cap is None else cap,
                self.rng,
            )
            blocked = self._blocked_comparisons(rule.features)
            active = [k for k in range(len(comps)) if k not in blocked]
            if len(il) == 0 or not active:
                history.append({"rule": str(rule), "pairs": len(il), "skipped": True})
                continue
            levels = comparison_matrix(self.table, self.profile, il, ir)
            m, lam, its, mass = self.em(
                levels, active, priors, u, 0.1, self.profile.em_max_iterations
            )
            for k in active:
                if not (levels[:, k] != NULL_LEVEL).any():
                    # every pair null (a caller's surname where no record is a caller):
                    # the session saw nothing, its m is the start value echoed back
                    continue
                sums[k] += m[k]
                masses[k] += mass[k]
                seen[k] += 1
            history.append({"rule": str(rule), "pairs": len(il), "lambda": lam, "iterations": its})
        m_final = [sums[k] / seen[k] if seen[k] else priors[k] for k in range(len(comps))]
        return m_final, seen, masses, history

    # --- λ and the u correction ---------------------------------------------------------
    @staticmethod
    def estimate_lambda(partial: FloatArray, n_pairs: float, lam: float = 1e-4) -> float:
        """λ over all pairs from the candidates' weights (without prior), by 1-D EM.

        Pairs outside the candidates are taken as non-matches (blocking keeps nearly all
        matches), so λ = Σ posterior(λ) over candidates / all pairs.  The posterior uses
        this global λ, not a "share among candidates": a pattern that blocking always
        admits has the same match probability inside the candidates as outside.
        """
        if len(partial) == 0 or n_pairs <= 0:
            return MIN_PROBABILITY
        lam = min(max(lam, MIN_PROBABILITY), 0.5)
        for _ in range(200):
            post = 1.0 / (1.0 + np.exp2(-np.clip(partial + logit2(lam), -60, 60)))
            new = min(max(float(post.sum()) / n_pairs, MIN_PROBABILITY), 0.5)
            if abs(new - lam) <= 1e-4 * lam:
                return new
            lam = new
        return lam

    def fit(self, candidate_levels: LevelArray, candidate_left: IntArray) -> Model:
        shares, sizes = self.estimate_u()
        floors = [0.5 / size for size in sizes]  # half an observation: the least credible u
        u = [np.maximum(s, f) / np.maximum(s, f).sum() for s, f in zip(shares, floors, strict=True)]
        m, seen, masses, history = self.estimate_m(u)
        unseen = [k for k in range(len(m)) if seen[k] == 0]
        if unseen and len(candidate_levels):
            # no training rule covered these (e.g. its columns are empty in this extract):
            # estimate them on the prediction candidates rather than keep a start value
            all_comps = list(range(len(m)))
            fitted, _, its, mass = self.em(
                candidate_levels, all_comps, m, u, 0.1, self.profile.em_max_iterations
            )
            for k in unseen:
                m[k], masses[k], seen[k] = fitted[k], mass[k], 1
            history.append({"rule": "candidates", "estimated": unseen, "iterations": its})
        for k in range(len(m)):
            # a level seen neither among random pairs nor among matches carries no
            # evidence: both smoothed values are artefacts of sample sizes, so weight 0
            silent = (shares[k] == 0) & (masses[k] < 0.5) & (seen[k] > 0)
            m[k] = np.where(silent, u[k], m[k])
            m[k] = m[k] / m[k].sum()
        comps = [
            ComparisonParams(
                name=c.name,
                labels=list(c.labels),
                m=m[k],
                u=u[k],
                tf_keys={i: lv.key for i, lv in enumerate(c.levels) if lv.tf},
                m_sessions=seen[k],
                u_sampled=u[k].copy(),
            )
            for k, c in enumerate(self.profile.comparisons)
        ]
        model = Model(self.profile.name, 1e-4, comps, history)
        for _ in range(2):
            total, tf_adj = model.partial_weights(self.table, candidate_levels, candidate_left)
            model.lam = self.estimate_lambda(total + tf_adj, self.n_pairs, model.lam)
            for k, comp in enumerate(model.comparisons):
                corrected = (shares[k] - model.lam * comp.m) / (1 - model.lam)
                corrected = np.maximum(corrected, floors[k])
                comp.u = corrected / corrected.sum()
        model.history.append({"lambda": model.lam, "pairs_considered": self.n_pairs})
        return model
