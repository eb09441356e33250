"""Resolution profiles: which columns, how they are normalised, compared, blocked and decided.

A profile is data, not code, so a district can tune blocking or thresholds for its own
extracts without a release, and so the same engine serves the Chinese resident profile and
the FEBRL benchmark.  Everything is validated here, at load time, so a typo in a YAML file
fails before any personal data is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = [
    "LEVEL_KINDS",
    "BlockingRule",
    "ComparisonSpec",
    "FeatureSpec",
    "Guard",
    "LevelSpec",
    "LinkType",
    "Profile",
    "ProfileError",
    "builtin_profiles",
    "load_profile",
]

LinkType = Literal["dedupe", "link_only", "link_and_dedupe"]

#: Level kinds the comparison engine understands; see ``resolution.comparisons``.
LEVEL_KINDS = frozenset(
    {
        "exact",  # key equal on both sides
        "cross_exact",  # key on one side equals ``other`` on the other (swapped fields)
        "jaro_winkler",  # similarity >= threshold
        "damerau_levenshtein",  # distance <= threshold (insertions, deletions, swaps)
        "transposition",  # same length, exactly one adjacent pair swapped
        "date_swap",  # YYYYMMDD with day and month exchanged
        "prefix",  # first ``threshold`` characters equal (year of a date, region of an ID)
    }
)


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the offending entry."""


@dataclass(frozen=True)
class FeatureSpec:
    """A derived column: input columns joined by a space, then normaliser steps in order."""

    name: str
    sources: tuple[str, ...]
    steps: tuple[str, ...]


@dataclass(frozen=True)
class LevelSpec:
    """One agreement level; the first level a pair satisfies is the one it gets."""

    label: str
    kind: str
    key: str
    threshold: float | None = None
    other: str | None = None
    tf: bool = False
    m_prior: float | None = None


@dataclass(frozen=True)
class ComparisonSpec:
    """An ordered list of levels; pairs that satisfy none fall into the implicit ``else``."""

    name: str
    null_key: str
    levels: tuple[LevelSpec, ...]
    # The comparison speaks only when at least one side holds this feature (else null):
    # a caller known as 王女士 says something about the surname, two full names do not
    # need it said twice.
    when_either: str | None = None

    @property
    def keys(self) -> set[str]:
        """Every feature the comparison reads."""
        out = {self.null_key, *(lv.key for lv in self.levels)}
        out |= {lv.other for lv in self.levels if lv.other}
        return out | ({self.when_either} if self.when_either else set())

    @property
    def labels(self) -> tuple[str, ...]:
        return (*(lv.label for lv in self.levels), "else")


@dataclass(frozen=True)
class BlockingRule:
    """Candidate pairs agree on every term; a term is (left feature, right feature)."""

    terms: tuple[tuple[str, str], ...]

    @property
    def features(self) -> frozenset[str]:
        return frozenset(f for term in self.terms for f in term)

    @property
    def symmetric(self) -> bool:
        return all(a == b for a, b in self.terms)

    def __str__(self) -> str:
        return " & ".join(a if a == b else f"{a}={b}" for a, b in self.terms)


@dataclass(frozen=True)
class Guard:
    """Sends pairs whose levels match ``when`` (comparison → labels) to a clerk.

    Fellegi–Sunter sums evidence, so one very strong field can outvote two that disagree
    (or be outvoted by them); a guard is the explicit policy that some combinations need a
    human, whatever the sum.  ``cap`` turns would-be matches into review; ``review``
    also lifts would-be non-matches into review (a shared ID on two different people is
    a data-quality finding even when the model is sure they differ).
    """

    name: str
    when: Mapping[str, frozenset[str]]
    action: Literal["cap", "review"] = "cap"


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    source_column: str | None  # None: the file stem names the source
    key_column: str
    columns: tuple[str, ...]
    link_type: LinkType
    features: tuple[FeatureSpec, ...]
    comparisons: tuple[ComparisonSpec, ...]
    blocking: tuple[BlockingRule, ...]
    max_block_size: int
    em_rules: tuple[BlockingRule, ...]
    u_max_pairs: int
    em_max_iterations: int
    seed: int
    match_probability: float
    review_probability: float
    conflict_features: tuple[str, ...]
    sufficient_if_any: tuple[tuple[str, ...], ...]
    guards: tuple[Guard, ...] = field(default=())
    # pairs per EM session at most (a random sample beyond): a birth-date block over a
    # million residents holds some 70M pairs, and m needs nowhere near that many
    em_max_pairs: int | None = None

    def comparison(self, name: str) -> ComparisonSpec:
        for comp in self.comparisons:
            if comp.name == name:
                return comp
        raise KeyError(name)


_PROFILE_DIR = "profiles"


def builtin_profiles() -> list[str]:
    """Names accepted by :func:`load_profile` without a path."""
    folder = resources.files("resolution") / _PROFILE_DIR
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def load_profile(name_or_path: str | Path) -> Profile:
    """A built-in profile by name (``cn_person``, ``febrl``) or a YAML file by path."""
    text: str
    if isinstance(name_or_path, Path) or str(name_or_path).endswith((".yaml", ".yml")):
        path = Path(name_or_path)
        if not path.is_file():
            raise ProfileError(f"profile file not found: {path}")
        text = path.read_text(encoding="utf-8")
    else:
        resource = resources.files("resolution") / _PROFILE_DIR / f"{name_or_path}.yaml"
        if not resource.is_file():
            known = ", ".join(builtin_profiles())
            raise ProfileError(f"unknown profile {name_or_path!r} (built in: {known})")
        text = resource.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ProfileError("a profile is a YAML mapping")
    return parse_profile(data)


def parse_profile(data: Mapping[str, Any]) -> Profile:
    """Build and cross-check a :class:`Profile` from its YAML mapping."""
    inp = _mapping(data, "input")
    features = tuple(_feature(n, spec) for n, spec in _mapping(data, "features").items())
    comparisons = tuple(_comparison(c) for c in _list(data, "comparisons"))
    block = _mapping(data, "blocking")
    train = _mapping(data, "training")
    thresholds = _mapping(data, "thresholds")
    clustering = dict(data.get("clustering") or {})
    profile = Profile(
        name=str(data.get("name", "")),
        description=str(data.get("description", "")).strip(),
        source_column=inp.get("source_column"),
        key_column=str(inp.get("key_column", "source_key")),
        columns=tuple(str(c) for c in inp.get("columns", ())),
        link_type=_link_type(inp.get("link_type", "link_and_dedupe")),
        features=features,
        comparisons=comparisons,
        blocking=tuple(_rule(r) for r in _list(block, "rules")),
        max_block_size=int(block.get("max_block_size", 1000)),
        em_rules=tuple(_rule(r) for r in _list(train, "em_rules")),
        u_max_pairs=int(train.get("u_max_pairs", 200_000)),
        em_max_iterations=int(train.get("em_max_iterations", 100)),
        seed=int(train.get("seed", 42)),
        match_probability=float(thresholds["match_probability"]),
        review_probability=float(thresholds["review_probability"]),
        conflict_features=tuple(clustering.get("conflict_features", ())),
        sufficient_if_any=tuple(tuple(g) for g in data.get("sufficient_if_any", ())),
        guards=tuple(_guard(g) for g in data.get("guards", ())),
        em_max_pairs=None if train.get("em_max_pairs") is None else int(train["em_max_pairs"]),
    )
    _check(profile)
    return profile


def _mapping(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ProfileError(f"{key!r} must be a mapping")
    return value


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list) or not value:
        raise ProfileError(f"{key!r} must be a non-empty list")
    return value


def _link_type(value: Any) -> LinkType:
    if value == "dedupe":
        return "dedupe"
    if value == "link_only":
        return "link_only"
    if value == "link_and_dedupe":
        return "link_and_dedupe"
    raise ProfileError(f"link_type {value!r}: use dedupe, link_only or link_and_dedupe")


def _feature(name: str, spec: Any) -> FeatureSpec:
    if not isinstance(spec, dict) or "from" not in spec:
        raise ProfileError(f"feature {name!r} needs 'from'")
    sources = spec["from"]
    sources = (sources,) if isinstance(sources, str) else tuple(sources)
    return FeatureSpec(name, tuple(str(s) for s in sources), tuple(spec.get("normalise", ())))


def _comparison(spec: Any) -> ComparisonSpec:
    if not isinstance(spec, dict) or "name" not in spec or "levels" not in spec:
        raise ProfileError("a comparison needs 'name' and 'levels'")
    levels = []
    for raw in spec["levels"]:
        kind = raw.get("kind")
        if kind not in LEVEL_KINDS:
            raise ProfileError(f"comparison {spec['name']!r}: unknown level kind {kind!r}")
        key = raw.get("key", spec.get("key"))
        if key is None:
            raise ProfileError(f"comparison {spec['name']!r}: level without key")
        threshold = raw.get("threshold")
        levels.append(
            LevelSpec(
                label=str(raw.get("label", kind)),
                kind=kind,
                key=str(key),
                threshold=None if threshold is None else float(threshold),
                other=raw.get("other"),
                tf=bool(raw.get("tf", False)),
                m_prior=raw.get("m_prior"),
            )
        )
    null_key = str(spec.get("null_key", spec.get("key", levels[0].key)))
    when = spec.get("when_either")
    return ComparisonSpec(
        str(spec["name"]), null_key, tuple(levels), None if when is None else str(when)
    )


def _rule(spec: Any) -> BlockingRule:
    items = [spec] if isinstance(spec, str) else list(spec)
    terms = []
    for item in items:
        left, _, right = str(item).partition("=")
        terms.append((left.strip(), (right or left).strip()))
    return BlockingRule(tuple(terms))


def _guard(spec: Any) -> Guard:
    when = {str(k): frozenset(v) for k, v in dict(spec["when"]).items()}
    action = spec.get("action", "cap")
    if action not in ("cap", "review"):
        raise ProfileError(f"guard {spec['name']!r}: action is cap or review")
    return Guard(str(spec["name"]), when, "review" if action == "review" else "cap")


def _check(p: Profile) -> None:
    """Every name a profile mentions must exist, so mistakes surface before data is read."""
    feats = {f.name for f in p.features}
    if len(feats) != len(p.features):
        raise ProfileError("duplicate feature names")
    for f in p.features:
        missing = [s for s in f.sources if s not in p.columns]
        if missing:
            raise ProfileError(f"feature {f.name!r} reads undeclared columns {missing}")
    names = [c.name for c in p.comparisons]
    if len(set(names)) != len(names):
        raise ProfileError("duplicate comparison names")
    for comp in p.comparisons:
        used = comp.keys
        if used - feats:
            raise ProfileError(f"comparison {comp.name!r} uses unknown features {used - feats}")
        for lv in comp.levels:
            needs_threshold = lv.kind in {"jaro_winkler", "damerau_levenshtein", "prefix"}
            if needs_threshold and lv.threshold is None:
                raise ProfileError(f"{comp.name}.{lv.label}: {lv.kind} needs a threshold")
            if lv.kind == "cross_exact" and not lv.other:
                raise ProfileError(f"{comp.name}.{lv.label}: cross_exact needs 'other'")
            if lv.tf and lv.kind != "exact":
                raise ProfileError(f"{comp.name}.{lv.label}: tf applies to exact levels only")
        if len({lv.label for lv in comp.levels}) != len(comp.levels):
            raise ProfileError(f"comparison {comp.name!r}: duplicate level labels")
    for rule in (*p.blocking, *p.em_rules):
        if rule.features - feats:
            raise ProfileError(f"blocking rule {rule} uses unknown features")
    for extra in (*p.conflict_features, *(f for g in p.sufficient_if_any for f in g)):
        if extra not in feats:
            raise ProfileError(f"unknown feature {extra!r}")
    for guard in p.guards:
        for comp_name, labels in guard.when.items():
            if comp_name not in names:
                raise ProfileError(f"guard {guard.name!r}: unknown comparison {comp_name!r}")
            known = set(p.comparison(comp_name).labels) | {"null"}
            if labels - known:
                raise ProfileError(f"guard {guard.name!r}: unknown levels {labels - known}")
    if not 0.0 < p.review_probability <= p.match_probability < 1.0:
        raise ProfileError("thresholds: need 0 < review_probability <= match_probability < 1")
    if p.max_block_size < 2:
        raise ProfileError("max_block_size must be at least 2")
