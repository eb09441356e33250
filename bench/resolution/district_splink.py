"""Splink 5 (DuckDB) on the synthetic district, set up to be comparable with gridhub.

Splink has no Chinese normalisation, so both tools get the *same* derived columns from
gridhub's normalisers (name folded to simplified script, pinyin, initials, 18-digit ID,
ISO birth date, phone, address keys at room / building / house / community / road
level).  The comparisons mirror ``cn_person`` level for level (name: exact with term
frequencies, pinyin, one edit, pinyin Jaro-Winkler ≥ 0.9, initials; birth date: exact,
one edit, same year; ID: exact, one edit; phone: exact with TF, last 8; address: room /
building / house with TF, community, road; household), the blocking rules are the
profile's, and the thresholds are gridhub's (match probability 0.95 for predictions and
clustering).  Training follows Splink's own recipe: λ from deterministic rules (same ID;
same name and birth date) at recall 0.9, u by random sampling (5M pairs, fixed seed), m by
EM blocked on birth date, name pinyin and ID — the same three EM blocks gridhub uses (a
session Splink refuses, e.g. an m underflowing below 1e-300 inside ID blocks where nearly
every pair matches, is skipped and the run records which sessions it kept).
What Splink does not have and is not given: guards (pairs a clerk must see) and
conflict-aware clustering (two valid IDs never in one person).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd

from resolution import load_profile
from resolution.features import build_features

__all__ = ["COLUMNS", "derived_frame", "run"]

COLUMNS = (
    "name",
    "name_pinyin",
    "name_initials",
    "surname_pinyin",
    "id",
    "id_head",
    "id_tail",
    "birth_date",
    "gender",
    "phone",
    "phone_last8",
    "addr_room",
    "addr_building",
    "addr_house",
    "addr_community",
    "addr_anchor",
    "household",
)
THRESHOLD = 0.95


def derived_frame(records: pd.DataFrame) -> pd.DataFrame:
    """gridhub's normalised features as plain columns, one row per record."""
    table = build_features(records, load_profile("cn_person"))
    out = {"unique_id": list(range(table.n))}
    for name in COLUMNS:
        feat = table[name]
        values = pd.Series([*feat.values.tolist(), None], dtype=object)
        out[name] = values.iloc[feat.codes].tolist()  # code -1 reads the trailing None
    return pd.DataFrame(out)


def _settings() -> tuple[Any, list[Any]]:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    def levels(*items: Any) -> Any:
        return cl.CustomComparison(comparison_levels=list(items))

    name = levels(
        cll.NullLevel("name"),
        cll.ExactMatchLevel("name", term_frequency_adjustments=True),
        cll.ExactMatchLevel("name_pinyin", term_frequency_adjustments=True),
        cll.DamerauLevenshteinLevel("name", 1),
        cll.JaroWinklerLevel("name_pinyin", 0.9),
        cll.ExactMatchLevel("name_initials"),
        cll.ElseLevel(),
    )
    birth = levels(
        cll.NullLevel("birth_date"),
        cll.ExactMatchLevel("birth_date"),
        cll.DamerauLevenshteinLevel("birth_date", 1),
        cll.CustomLevel("substr(birth_date_l, 1, 4) = substr(birth_date_r, 1, 4)", "same year"),
        cll.ElseLevel(),
    )
    rid = levels(
        cll.NullLevel("id"),
        cll.ExactMatchLevel("id"),
        cll.DamerauLevenshteinLevel("id", 1),
        cll.ElseLevel(),
    )
    phone = levels(
        cll.NullLevel("phone"),
        cll.ExactMatchLevel("phone", term_frequency_adjustments=True),
        cll.ExactMatchLevel("phone_last8"),
        cll.ElseLevel(),
    )
    address = levels(
        cll.NullLevel("addr_anchor"),
        cll.ExactMatchLevel("addr_room", term_frequency_adjustments=True),
        cll.ExactMatchLevel("addr_building", term_frequency_adjustments=True),
        cll.ExactMatchLevel("addr_house", term_frequency_adjustments=True),
        cll.ExactMatchLevel("addr_community"),
        cll.ExactMatchLevel("addr_anchor"),
        cll.ElseLevel(),
    )
    rules: list[Any] = [
        block_on("id"),
        block_on("id_tail", "surname_pinyin"),
        block_on("id_head", "name_pinyin"),
        block_on("birth_date", "surname_pinyin"),
        block_on("phone"),
        block_on("name_pinyin", "addr_house"),
        block_on("name_pinyin", "addr_building"),
        block_on("name_initials", "birth_date"),
    ]
    settings = SettingsCreator(
        unique_id_column_name="unique_id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=rules,
        comparisons=[
            name,
            birth,
            cl.ExactMatch("gender"),
            rid,
            phone,
            address,
            cl.ExactMatch("household").configure(term_frequency_adjustments=True),
        ],
    )
    deterministic = [block_on("id"), block_on("name", "birth_date")]
    return settings, deterministic


def run(frame: pd.DataFrame, seed: int = 42) -> dict[str, Any]:
    """Train, predict and cluster; returns cluster labels per row and the seconds taken."""
    from splink import DuckDBAPI, Linker, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    start = time.perf_counter()
    settings, deterministic = _settings()
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(frame), settings)
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=seed)
    sessions = []
    for name in ("birth_date", "name_pinyin", "id"):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(block_on(name))
            sessions.append(name)
        except ValueError:  # Splink refuses an m it cannot represent (underflow); skip it
            continue
    predictions = linker.inference.predict(threshold_match_probability=THRESHOLD)
    pairs = predictions.as_pandas_dataframe()[["unique_id_l", "unique_id_r"]]  # type: ignore[no-untyped-call]
    clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=THRESHOLD
    )
    clusters = clustered.as_pandas_dataframe()  # type: ignore[no-untyped-call]
    seconds = time.perf_counter() - start
    label = dict(zip(clusters["unique_id"], clusters["cluster_id"], strict=True))
    return {
        "labels": [label.get(i, f"s{i}") for i in frame["unique_id"].tolist()],
        "pairs": list(
            zip(pairs["unique_id_l"].tolist(), pairs["unique_id_r"].tolist(), strict=True)
        ),
        "seconds": seconds,
        "em_sessions": sessions,
    }
