"""The batch pipeline: records → features → candidates → levels → model → decisions → persons.

It works on an in-memory table of records (a DataFrame with ``source``, ``source_key``
and the profile's columns), whoever produced it: the CSV reader for district extracts,
the benchmark loaders, or later a store adapter.  Nothing here touches files or a
database, and nothing here logs values.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from resolution.blocking import candidate_pairs
from resolution.clustering import CANNOT_LINK, PairArrays, constrained_components
from resolution.comparisons import NULL_LEVEL, comparison_matrix
from resolution.features import FeatureTable, build_features
from resolution.model import Model, probability_from_weight
from resolution.profile import Guard, LinkType, Profile, load_profile
from resolution.training import Trainer

__all__ = [
    "INSUFFICIENT",
    "MATCH",
    "NON_MATCH",
    "REVIEW",
    "Resolution",
    "ScoredPairs",
    "effective_link_type",
    "resolve",
    "sufficient_mask",
]

NON_MATCH, REVIEW, MATCH = 0, 1, 2
DECISION_NAMES = {NON_MATCH: "non_match", REVIEW: "review", MATCH: "match"}
INSUFFICIENT = "insufficient_identifiers"
#: Below this many matchable records, sampled u and EM m are mostly noise.
MIN_TRAINING_RECORDS = 200

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass
class ScoredPairs:
    """Candidate pairs at or above the review threshold (weaker ones are only counted)."""

    left: IntArray
    right: IntArray
    levels: npt.NDArray[np.int8]
    weight: FloatArray
    probability: FloatArray
    decision: npt.NDArray[np.int8]
    reason: npt.NDArray[np.object_]


@dataclass
class Resolution:
    profile: Profile
    table: FeatureTable
    model: Model
    link_type: LinkType
    pairs: ScoredPairs
    person: IntArray
    person_ids: npt.NDArray[np.object_]
    insufficient: BoolArray
    stats: dict[str, Any] = field(default_factory=dict)

    def clusters(self) -> pd.DataFrame:
        """One row per input record, in input order: the CLI's ``clusters.csv``."""
        return pd.DataFrame(
            {
                "source": np.asarray(self.table.source_names, dtype=object)[self.table.source],
                "source_key": self.table.source_keys,
                "person_id": self.person_ids[self.person],
                "flags": np.where(self.insufficient, INSUFFICIENT, ""),
            }
        )

    def _pair_frame(self, mask: BoolArray) -> pd.DataFrame:
        p, t = self.pairs, self.table
        names = np.asarray(t.source_names, dtype=object)
        li, ri = p.left[mask], p.right[mask]
        frame = pd.DataFrame(
            {
                "left_source": names[t.source[li]],
                "left_key": t.source_keys[li],
                "right_source": names[t.source[ri]],
                "right_key": t.source_keys[ri],
                "match_weight": np.round(p.weight[mask], 3),
                "match_probability": np.round(p.probability[mask], 6),
                "decision": [DECISION_NAMES[int(d)] for d in p.decision[mask]],
                "reason": p.reason[mask],
            }
        )
        for k, comp in enumerate(self.model.comparisons):
            labels = np.asarray([*comp.labels, "null"], dtype=object)
            frame[f"level_{comp.name}"] = labels[p.levels[mask, k]]  # -1 reads "null"
        return frame.sort_values("match_weight", ascending=False, ignore_index=True)

    def review(self) -> pd.DataFrame:
        """Pairs a clerk must decide, strongest first, with the level of every field."""
        return self._pair_frame(self.pairs.decision == REVIEW)

    def matches(self) -> pd.DataFrame:
        return self._pair_frame(self.pairs.decision == MATCH)

    def match_pairs(self) -> tuple[IntArray, IntArray]:
        """Pairs the model itself scored as matches: before guards and clustering.

        This is what pairwise benchmarks compare (Splink's ``predict`` output); the
        persons in :meth:`clusters` are what the product uses.
        """
        sel = self.pairs.probability >= self.profile.match_probability
        return self.pairs.left[sel], self.pairs.right[sel]


def effective_link_type(link_type: LinkType, n_sources: int) -> LinkType:
    """With one source there is nothing to link across, so ``link_only`` means dedupe."""
    return "dedupe" if n_sources < 2 and link_type == "link_only" else link_type


def sufficient_mask(table: FeatureTable, profile: Profile) -> BoolArray:
    """Records holding at least one identifier group the profile accepts as matchable."""
    if not profile.sufficient_if_any:
        return np.ones(table.n, dtype=bool)
    ok = np.zeros(table.n, dtype=bool)
    for group in profile.sufficient_if_any:
        has = np.ones(table.n, dtype=bool)
        for name in group:
            has &= table[name].present
        ok |= has
    return ok


def _guarded(profile: Profile, levels: npt.NDArray[np.int8]) -> list[tuple[Guard, BoolArray]]:
    names = [c.name for c in profile.comparisons]
    out = []
    for guard in profile.guards:
        hit = np.ones(len(levels), dtype=bool)
        for comp_name, labels in guard.when.items():
            k = names.index(comp_name)
            comp = profile.comparisons[k]
            wanted = [NULL_LEVEL if lb == "null" else comp.labels.index(lb) for lb in labels]
            hit &= np.isin(levels[:, k], wanted)
        out.append((guard, hit))
    return out


def _person_ids(table: FeatureTable, person: IntArray) -> npt.NDArray[np.object_]:
    """Stable IDs: a hash of the person's smallest (source, key), so reruns agree."""
    if table.n == 0:
        return np.empty(0, dtype=object)
    names = np.asarray(table.source_names, dtype=object)
    member = names[table.source] + "\x1f" + table.source_keys
    order = np.lexsort((member.astype(str), person))
    first = order[np.r_[True, person[order][1:] != person[order][:-1]]]
    ids = np.empty(len(first), dtype=object)
    for p, rec in zip(person[first].tolist(), first.tolist(), strict=True):
        ids[p] = "P" + hashlib.blake2b(str(member[rec]).encode(), digest_size=8).hexdigest()
    return ids


def resolve(
    records: pd.DataFrame | FeatureTable,
    profile: Profile | str = "cn_person",
    *,
    model: Model | None = None,
    link_type: LinkType | None = None,
    must_link: PairArrays | None = None,
    cannot_link: PairArrays | None = None,
) -> Resolution:
    """Resolve ``records`` into persons; trains a model from them unless one is given.

    ``records`` may be an already built :class:`FeatureTable` (the store keeps features
    between runs, so it does not normalise twice).  ``must_link`` / ``cannot_link`` are
    pairs of record rows a clerk decided: joined before any scored edge, or never joined.
    """
    prof = load_profile(profile) if isinstance(profile, str) else profile
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        timings[name] = round(now - t0, 4)
        t0 = now

    table = records if isinstance(records, FeatureTable) else build_features(records, prof)
    link = effective_link_type(link_type or prof.link_type, len(table.source_names))
    eligible = sufficient_mask(table, prof)
    lap("features")
    il, ir, bstats = candidate_pairs(table, prof.blocking, link, prof.max_block_size, eligible)
    lap("blocking")
    levels = comparison_matrix(table, prof, il, ir)
    lap("comparisons")
    warnings = []
    if model is None:
        model = Trainer(table, prof, link, eligible).fit(levels, il)
        lap("training")
        if int(eligible.sum()) < MIN_TRAINING_RECORDS:
            warnings.append(
                f"only {int(eligible.sum())} matchable records: too few to estimate m and u "
                "reliably; resolve with a model fitted on a larger extract"
            )
        unestimated = [c.name for c in model.comparisons if c.m_sessions == 0]
        if unestimated:
            warnings.append(f"m kept at its start value (no EM session saw it): {unestimated}")
    weight = model.match_weight(table, levels, il)
    prob = probability_from_weight(weight)
    guards = _guarded(prof, levels)
    keep = prob >= prof.review_probability
    for guard, hit in guards:
        if guard.action == "review":
            keep |= hit
    il, ir, levels, weight, prob = il[keep], ir[keep], levels[keep], weight[keep], prob[keep]
    decision = np.where(prob >= prof.match_probability, MATCH, REVIEW).astype(np.int8)
    reason = np.full(len(il), "", dtype=object)
    for guard, hit in guards:
        hit = hit[keep]
        flagged = hit & (reason == "") & ((decision == MATCH) | (guard.action == "review"))
        decision[hit & (decision == MATCH)] = REVIEW
        reason[flagged] = guard.name
    lap("scoring")
    match = np.flatnonzero(decision == MATCH)
    conflicts = [table[f].codes for f in prof.conflict_features]
    person, refused = constrained_components(
        table.n, il[match], ir[match], weight[match], conflicts, must=must_link, cannot=cannot_link
    )
    decision[match[refused > 0]] = REVIEW
    reason[match[refused > 0]] = np.where(
        refused[refused > 0] == CANNOT_LINK, "rejected_by_reviewer", "conflicting_ids"
    )
    lap("clustering")
    pairs = ScoredPairs(il, ir, levels, weight, prob, decision, reason)
    stats = {
        "records": table.n,
        "sources": len(table.source_names),
        "link_type": link,
        "insufficient": int((~eligible).sum()),
        "candidate_pairs": bstats.candidate_pairs,
        "pairs_per_rule": bstats.pairs_per_rule,
        "skipped_blocks": bstats.skipped_blocks,
        "matches": int((decision == MATCH).sum()),
        "review": int((decision == REVIEW).sum()),
        "persons": int(person.max(initial=-1) + 1),
        "constraints": {
            "must_link": 0 if must_link is None else len(must_link[0]),
            "cannot_link": 0 if cannot_link is None else len(cannot_link[0]),
        },
        "seconds": timings,
        "warnings": warnings,
    }
    return Resolution(
        profile=prof,
        table=table,
        model=model,
        link_type=link,
        pairs=pairs,
        person=person,
        person_ids=_person_ids(table, person),
        insufficient=~eligible,
        stats=stats,
    )
