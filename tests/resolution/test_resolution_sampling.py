"""EM's pair sample drawn without listing every pair is the listed sample, pair for pair."""

from __future__ import annotations

import numpy as np
import pytest

from resolution.blocking import _listed_sample, _triangle_rows, sample_rule_pairs
from resolution.features import FeatureTable, build_features
from resolution.profile import load_profile
from tests.resolution.population import make_people, make_records


@pytest.fixture(scope="module")
def table() -> FeatureTable:
    records, _ = make_records(make_people(600))
    return build_features(records, load_profile("cn_person"))


def test_triangle_rows_cover_every_pair_of_a_block() -> None:
    for size in (2, 3, 7, 1000):
        rows, _ = np.triu_indices(size, k=1)  # row by row, as blocks list their pairs
        offset = np.arange(len(rows), dtype=np.int64)
        got = _triangle_rows(offset, np.full(len(rows), size, dtype=np.int64))
        np.testing.assert_array_equal(got, rows)


@pytest.mark.parametrize("count", [1, 50, 400, 10**9])
def test_sample_equals_listed_sample(table: FeatureTable, count: int) -> None:
    prof = load_profile("cn_person")
    eligible = np.random.default_rng(5).random(table.n) < 0.9  # some records left out
    sampled_any = False
    for rule in prof.em_rules:
        for cap in (prof.max_block_size, 3):  # 3: some blocks skipped as too big
            want = _listed_sample(
                table, rule, "link_and_dedupe", cap, eligible, count, np.random.default_rng(1)
            )
            got = sample_rule_pairs(
                table, rule, "link_and_dedupe", cap, eligible, count, np.random.default_rng(1)
            )
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
            assert bool(eligible[got[0]].all() and eligible[got[1]].all())
            sampled_any |= len(want[0]) == count
    if count < 10**9:
        assert sampled_any  # the counted path was exercised, not only the listed one
