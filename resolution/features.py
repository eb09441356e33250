"""The feature table: every derived column as integer codes over its distinct values.

Comparing integers is what makes blocking and exact levels vectorisable, and normalising
each *distinct* raw value once (a district has far fewer distinct addresses or names than
records) is what makes Python-level normalisers affordable.  Value frequencies, needed for
term-frequency adjustment and for exact ``u`` estimates, fall out of the same pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from resolution.normalisers import Step, make_step, run_steps
from resolution.profile import FeatureSpec, Profile
from resolution.similarity import CharProfile, char_profile

__all__ = ["Feature", "FeatureTable", "build_features", "normalise_record"]

IntArray = npt.NDArray[np.int64]


@dataclass
class Feature:
    """One derived column; ``codes[i] == -1`` means record ``i`` has no usable value."""

    name: str
    codes: IntArray
    values: npt.NDArray[np.object_]
    counts: IntArray
    _index: dict[str, int] | None = field(default=None, repr=False)
    _profile: CharProfile | None = field(default=None, repr=False)
    # Term counts frozen with a stored model (per value, and their total): when set, term
    # frequencies come from the fit, not from this table, so a re-run over a grown table
    # scores a pair exactly as the run that fitted the model did.
    frozen_counts: IntArray | None = field(default=None, repr=False)
    frozen_total: int = field(default=0, repr=False)

    @property
    def char_profile(self) -> CharProfile:
        """Lengths and character histograms of the values (for string-metric bounds)."""
        if self._profile is None:
            self._profile = char_profile(self.values)
        return self._profile

    @property
    def present(self) -> npt.NDArray[np.bool_]:
        return self.codes >= 0

    def code_of(self, value: str | None) -> int:
        """Code of a normalised value, -1 if unseen: how a new record finds its blocks."""
        if value is None:
            return -1
        if self._index is None:
            self._index = {str(v): i for i, v in enumerate(self.values)}
        return self._index.get(value, -1)

    def frequency(self, codes: IntArray) -> npt.NDArray[np.float64]:
        """Share of records (with a value) holding each code: the term frequency."""
        if self.frozen_counts is not None:  # a value unseen at fit time counts as rare
            held = np.maximum(self.frozen_counts[codes], 1).astype(np.float64)
            return held / max(self.frozen_total, 1)
        total = max(int(self.counts.sum()), 1)
        return self.counts[codes].astype(np.float64) / total


@dataclass
class FeatureTable:
    """The engine's whole view of the records: no raw personal text beyond normalised keys."""

    n: int
    source: IntArray
    source_names: list[str]
    source_keys: npt.NDArray[np.object_]
    features: dict[str, Feature]
    _derived: dict[tuple[str, str, str], tuple[IntArray, IntArray]] = field(
        default_factory=dict, repr=False
    )

    def __getitem__(self, name: str) -> Feature:
        return self.features[name]

    def joint_codes(self, left: str, right: str) -> tuple[IntArray, IntArray]:
        """Codes of two features in one shared space, so ``left == right`` compares values."""
        fl, fr = self[left], self[right]
        if left == right:
            return fl.codes, fr.codes
        key = ("joint", left, right)
        if key not in self._derived:
            joint, _ = pd.factorize(np.concatenate([fl.values, fr.values]), sort=False)
            joint = joint.astype(np.int64)
            map_l, map_r = joint[: len(fl.values)], joint[len(fl.values) :]
            lc = np.append(map_l, -1)[fl.codes]  # code -1 (missing) reads the trailing -1
            rc = np.append(map_r, -1)[fr.codes]
            self._derived[key] = (lc, rc)
        return self._derived[key]

    def prefix_codes(self, name: str, length: int) -> IntArray:
        """Codes of each record's first ``length`` characters (-1 if shorter or missing)."""
        key = ("prefix", name, str(length))
        if key not in self._derived:
            feat = self[name]
            heads = [v[:length] if len(v) >= length else None for v in feat.values]
            per_value, _ = pd.factorize(pd.Series(heads, dtype=object), sort=False)
            per_value = per_value.astype(np.int64)
            codes = np.append(per_value, -1)[feat.codes]
            self._derived[key] = (codes, codes)
        return self._derived[key][0]


def _column_text(records: pd.DataFrame, sources: tuple[str, ...]) -> pd.Series:
    """Input columns as one text column; blanks become missing."""
    parts = []
    for col in sources:
        if col in records.columns:
            s = records[col]
            s = s.where(s.notna(), "").astype(str).str.strip()
        else:
            s = pd.Series("", index=records.index, dtype=object)
        parts.append(s)
    text = parts[0]
    for extra in parts[1:]:
        text = (text + " " + extra).str.strip()
    return text.where(text != "", None)


class _Builder:
    """Shares normalisation work between features with a common source and step prefix."""

    def __init__(self, records: pd.DataFrame) -> None:
        self._records = records
        self._raw: dict[tuple[str, ...], tuple[IntArray, list[Any]]] = {}
        self._done: dict[tuple[tuple[str, ...], tuple[str, ...]], list[Any]] = {}
        self._steps: dict[str, Step] = {}

    def raw(self, sources: tuple[str, ...]) -> tuple[IntArray, list[Any]]:
        if sources not in self._raw:
            codes, uniques = pd.factorize(_column_text(self._records, sources), sort=False)
            self._raw[sources] = (codes.astype(np.int64), list(uniques))
        return self._raw[sources]

    def step(self, spec: str) -> Step:
        if spec not in self._steps:
            self._steps[spec] = make_step(spec)
        return self._steps[spec]

    def build(self, spec: FeatureSpec) -> Feature:
        raw_codes, values = self.raw(spec.sources)
        start = 0
        for k in range(len(spec.steps), 0, -1):
            cached = self._done.get((spec.sources, spec.steps[:k]))
            if cached is not None:
                values, start = cached, k
                break
        for k in range(start, len(spec.steps)):
            fn = self.step(spec.steps[k])
            values = [None if v is None else fn(v) for v in values]
            self._done[(spec.sources, spec.steps[: k + 1])] = values
        out = pd.Series([None if v is None else str(v) for v in values], dtype=object)
        norm_codes, uniques = pd.factorize(out, sort=False)
        norm_codes = norm_codes.astype(np.int64)
        lookup = np.append(norm_codes, -1)  # raw code -1 (blank) reads the trailing -1
        codes = lookup[raw_codes]
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques)).astype(np.int64)
        return Feature(spec.name, codes, np.asarray(uniques, dtype=object), counts)


def build_features(records: pd.DataFrame, profile: Profile) -> FeatureTable:
    """Normalise ``records`` (columns ``source``, ``source_key`` and the profile's columns)."""
    if "source" not in records.columns or "source_key" not in records.columns:
        raise ValueError("records need 'source' and 'source_key' columns")
    records = records.reset_index(drop=True)
    builder = _Builder(records)
    features = {spec.name: builder.build(spec) for spec in profile.features}
    src_codes, src_names = pd.factorize(records["source"].astype(str), sort=True)
    return FeatureTable(
        n=len(records),
        source=src_codes.astype(np.int64),
        source_names=[str(s) for s in src_names],
        source_keys=records["source_key"].astype(str).to_numpy(dtype=object),
        features=features,
    )


def normalise_record(profile: Profile, record: Mapping[str, Any]) -> dict[str, str | None]:
    """One record's feature values, exactly as :func:`build_features` would derive them."""
    out: dict[str, str | None] = {}
    # features sharing a column and a step prefix share its work, as in the batch: six
    # address features parse the address once, not six times (placement latency)
    done: dict[tuple[tuple[str, ...], tuple[str, ...]], Any] = {}
    for spec in profile.features:
        start, value = 0, None
        for k in range(len(spec.steps), 0, -1):
            if (spec.sources, spec.steps[:k]) in done:
                start, value = k, done[(spec.sources, spec.steps[:k])]
                break
        if start == 0:
            parts = [str(record.get(c) or "").strip() for c in spec.sources]
            value = " ".join(p for p in parts if p) or None
        for k in range(start, len(spec.steps)):
            value = run_steps(value, [make_step(spec.steps[k])])
            done[(spec.sources, spec.steps[: k + 1])] = value
        out[spec.name] = None if value is None else str(value)
    return out
