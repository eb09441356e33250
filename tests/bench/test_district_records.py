"""The district benchmark's streaming store: a one-pass hold-out, a compact truth, and
pairwise scores counted without listing pairs."""

from __future__ import annotations

import random

import pytest

from bench.resolution.district_records import CompactTruth, HoldOut, district_rows
from bench.resolution.district_report import pairwise
from bench.resolution.metrics import pairs_from_labels, score
from simulators.district import District, SourceRow


@pytest.fixture(scope="module")
def rows() -> list[SourceRow]:
    return list(district_rows(District(400, 5)))


def _key(row: SourceRow) -> tuple[str, str]:
    return row.source, row.source_key


def test_hold_out_keeps_back_exactly_the_lowest_hashes(rows: list[SourceRow]) -> None:
    split = HoldOut(25, seed=3, chunk=100)
    kept = list(split.kept(rows))
    held = split.held
    assert len(held) == 25
    assert len(kept) + len(held) == len(rows)
    assert sorted(map(_key, kept + held)) == sorted(map(_key, rows))
    # the sample is the 25 lowest hashes over the whole district, not the first rows seen
    by_hash = sorted(rows, key=split._hash)
    assert [_key(r) for r in held] == [_key(r) for r in by_hash[:25]]
    assert {_key(r) for r in held} != {_key(r) for r in rows[:25]}


def test_hold_out_is_deterministic_and_shuffles_within_chunks(rows: list[SourceRow]) -> None:
    first, second = HoldOut(10, seed=3, chunk=100), HoldOut(10, seed=3, chunk=100)
    a, b = list(first.kept(rows)), list(second.kept(rows))
    assert [_key(r) for r in a] == [_key(r) for r in b]
    assert [_key(r) for r in first.held] == [_key(r) for r in second.held]
    assert [_key(r) for r in a] != [_key(r) for r in rows if r not in first.held]
    other = HoldOut(10, seed=4, chunk=100)
    list(other.kept(rows))
    assert {_key(r) for r in other.held} != {_key(r) for r in first.held}


def test_no_hold_out_passes_every_row(rows: list[SourceRow]) -> None:
    split = HoldOut(0, seed=3)
    assert len(list(split.kept(rows))) == len(rows)
    assert split.held == []


def test_compact_truth_labels_residents_and_outsiders() -> None:
    truth = CompactTruth()
    for key in ("P00000042", "X3301060010010010001", "P00000042", "X3301060010010010002"):
        truth.add(key)
    truth.add("X3301060010010010001")
    assert truth.labels.tolist() == [42, -1, 42, -2, -1]


def test_pairwise_counts_match_the_pair_sets() -> None:
    rng = random.Random(1)
    true = [rng.randrange(60) for _ in range(400)]
    pred = [t if rng.random() < 0.9 else rng.randrange(80) for t in true]
    keys = [str(i) for i in range(400)]
    expected = score(pairs_from_labels(keys, pred), pairs_from_labels(keys, true))
    assert pairwise(pred, true) == expected
