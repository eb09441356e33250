"""The fitted Fellegi–Sunter model and how it turns comparison levels into match weights.

The model holds only aggregate parameters (m, u per level and the prior), never values,
so it can be saved beside a store and reused to score one incoming record against
existing persons without retraining.  Term frequencies are *not* part of it: they are
read from whatever table the pairs come from, so they stay current as a district grows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from resolution.comparisons import NULL_LEVEL
from resolution.features import FeatureTable
from resolution.profile import Profile

__all__ = ["ComparisonParams", "Model", "logit2", "probability_from_weight"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
LevelArray = npt.NDArray[np.int8]

#: u below this is not credible from any realistic sample and would let one field decide.
MIN_PROBABILITY = 1e-9


def logit2(p: float) -> float:
    p = min(max(p, MIN_PROBABILITY), 1 - MIN_PROBABILITY)
    return float(np.log2(p / (1 - p)))


def probability_from_weight(weight: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp2(-np.clip(weight, -60.0, 60.0))))


@dataclass
class ComparisonParams:
    """m and u for the listed levels plus ``else`` (last entry)."""

    name: str
    labels: list[str]
    m: FloatArray
    u: FloatArray
    tf_keys: dict[int, str] = field(default_factory=dict)  # level → feature with frequencies
    m_sessions: int = 0  # EM sessions that estimated m; 0 means the prior was kept
    # Level shares among random pairs before true matches were taken out of u.  Value
    # frequencies count every record, duplicates included, so the term-frequency ratio
    # compares them with this share, measured the same way, not with the corrected u.
    u_sampled: FloatArray | None = None

    def tf_base(self, level: int) -> float:
        base = self.u if self.u_sampled is None else self.u_sampled
        return max(float(base[level]), MIN_PROBABILITY)

    @property
    def weights(self) -> FloatArray:
        m = np.maximum(self.m, MIN_PROBABILITY)
        u = np.maximum(self.u, MIN_PROBABILITY)
        return np.asarray(np.log2(m / u))


@dataclass
class Model:
    """λ is the probability that two random records (of the linked kind) are one person."""

    profile: str
    lam: float
    comparisons: list[ComparisonParams]
    history: list[dict[str, Any]] = field(default_factory=list)

    def partial_weights(
        self, table: FeatureTable, levels: LevelArray, il: IntArray
    ) -> tuple[FloatArray, FloatArray]:
        """Per-pair (sum of level weights, term-frequency adjustment), without the prior."""
        total = np.zeros(len(levels))
        tf_adj = np.zeros(len(levels))
        for k, comp in enumerate(self.comparisons):
            col = levels[:, k]
            w = np.append(comp.weights, 0.0)  # index -1 (null) reads the trailing 0
            total += w[col]
            for level, key in comp.tf_keys.items():
                mask = col == level
                if not mask.any():
                    continue
                feat = table[key]
                freq = feat.frequency(np.maximum(feat.codes[il[mask]], 0))
                tf_adj[mask] += np.log2(comp.tf_base(level) / np.maximum(freq, MIN_PROBABILITY))
        return total, tf_adj

    def match_weight(self, table: FeatureTable, levels: LevelArray, il: IntArray) -> FloatArray:
        total, tf_adj = self.partial_weights(table, levels, il)
        return total + tf_adj + logit2(self.lam)

    def explain(self, levels: npt.NDArray[np.int8]) -> dict[str, tuple[str, float]]:
        """Level label and weight per comparison for one pair: what a reviewer sees."""
        out = {}
        for k, comp in enumerate(self.comparisons):
            level = int(levels[k])
            if level == NULL_LEVEL:
                out[comp.name] = ("null", 0.0)
            else:
                out[comp.name] = (comp.labels[level], round(float(comp.weights[level]), 2))
        return out

    def to_json(self) -> str:
        return json.dumps(
            {
                "profile": self.profile,
                "lambda": self.lam,
                "comparisons": [
                    {
                        "name": c.name,
                        "labels": c.labels,
                        "m": [float(x) for x in c.m],
                        "u": [float(x) for x in c.u],
                        "tf_keys": {str(k): v for k, v in c.tf_keys.items()},
                        "m_sessions": c.m_sessions,
                        "u_sampled": None
                        if c.u_sampled is None
                        else [float(x) for x in c.u_sampled],
                    }
                    for c in self.comparisons
                ],
            },
            ensure_ascii=False,
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, profile: Profile | None = None) -> Model:
        data = json.loads(text)
        comps = [
            ComparisonParams(
                name=c["name"],
                labels=list(c["labels"]),
                m=np.asarray(c["m"], dtype=np.float64),
                u=np.asarray(c["u"], dtype=np.float64),
                tf_keys={int(k): v for k, v in c["tf_keys"].items()},
                m_sessions=int(c.get("m_sessions", 0)),
                u_sampled=None
                if c.get("u_sampled") is None
                else np.asarray(c["u_sampled"], dtype=np.float64),
            )
            for c in data["comparisons"]
        ]
        if profile is not None and [c.name for c in comps] != [c.name for c in profile.comparisons]:
            raise ValueError("model was fitted for different comparisons than this profile")
        return cls(profile=data["profile"], lam=float(data["lambda"]), comparisons=comps)
