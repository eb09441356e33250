"""Pairwise precision, recall and F1: the measure Splink's FEBRL examples report."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

Pair = tuple[str, str]


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    predicted: int
    true: int
    true_positives: int


def canonical(pairs: Iterable[tuple[str, str]]) -> set[Pair]:
    return {(a, b) if a < b else (b, a) for a, b in pairs if a != b}


def pairs_from_labels(keys: Sequence[str], labels: Sequence[Hashable]) -> set[Pair]:
    """Every pair of keys sharing a label (a cluster or a true entity)."""
    groups: dict[Hashable, list[str]] = defaultdict(list)
    for key, label in zip(keys, labels, strict=True):
        groups[label].append(key)
    return canonical(p for members in groups.values() for p in itertools.combinations(members, 2))


def score(predicted: set[Pair], truth: set[Pair]) -> Scores:
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, len(predicted), len(truth), tp)


def bcubed(predicted: Sequence[Hashable], truth: Sequence[Hashable]) -> Scores:
    """B-cubed precision and recall: per record, how much of its predicted person is its
    true person and vice versa, averaged over records.  Unlike pairwise scores it does not
    let one huge wrong cluster dominate, nor ignore the singletons."""
    n = len(predicted)
    if n == 0:
        return Scores(1.0, 1.0, 1.0, 0, 0, 0)
    both: dict[tuple[Hashable, Hashable], int] = defaultdict(int)
    size_p: dict[Hashable, int] = defaultdict(int)
    size_t: dict[Hashable, int] = defaultdict(int)
    for p, t in zip(predicted, truth, strict=True):
        both[(p, t)] += 1
        size_p[p] += 1
        size_t[t] += 1
    precision = sum(c * c / size_p[p] for (p, _), c in both.items()) / n
    recall = sum(c * c / size_t[t] for (_, t), c in both.items()) / n
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, len(size_p), len(size_t), n)
