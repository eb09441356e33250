"""Splink 5 (DuckDB) configured as in its own FEBRL example notebooks.

``docs/demos/examples/duckdb/febrl3.ipynb`` and ``febrl4.ipynb``: NameComparison on both
names, DateOfBirthComparison, Damerau-Levenshtein on soc_sec_id, exact street number and
postcode with term frequencies (FEBRL4: DL on postcode), the examples' blocking rules,
λ from deterministic rules, u by random sampling, m by EM on date_of_birth then postcode.
One change for reproducibility: a fixed seed for u sampling in both (FEBRL3's example
already uses seed=2).  Predictions at match probability 0.5.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bench.resolution.febrl import Dataset
from bench.resolution.metrics import Pair, canonical


@dataclass
class SplinkRun:
    pairs: set[Pair]
    cluster_pairs: set[Pair] | None
    seconds: float


def _prepare(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(cluster=frame["rec_id"].str.extract(r"^([^-]+-[^-]+)", expand=False))


def _settings(dataset: Dataset) -> tuple[Any, list[Any]]:
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    rules: list[Any]
    comparisons: list[Any]
    deterministic: list[Any]
    link_type: Any
    if dataset.name == "febrl3":
        rules = [
            block_on("soc_sec_id"),
            block_on("given_name"),
            block_on("surname"),
            block_on("date_of_birth"),
            block_on("postcode"),
        ]
        comparisons = [
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d"
            ),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ]
        deterministic = [
            block_on("soc_sec_id"),
            block_on("given_name", "surname", "date_of_birth"),
            "l.given_name = r.surname and l.surname = r.given_name "
            "and l.date_of_birth = r.date_of_birth",
        ]
        link_type = "dedupe_only"
    else:
        rules = [
            block_on("given_name", "surname"),
            "l.given_name = r.surname and l.surname = r.given_name",
            block_on("date_of_birth"),
            block_on("soc_sec_id"),
            block_on("state", "address_1"),
            block_on("street_number", "address_1"),
            block_on("postcode"),
        ]
        comparisons = [
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison(
                "date_of_birth",
                input_is_string=True,
                datetime_format="%Y%m%d",
                invalid_dates_as_null=True,
            ),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(
                term_frequency_adjustments=True
            ),
        ]
        deterministic = [
            block_on("soc_sec_id"),
            block_on("given_name", "surname", "date_of_birth"),
        ]
        link_type = "link_only"
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type=link_type,
        blocking_rules_to_generate_predictions=rules,
        comparisons=comparisons,
        retain_intermediate_calculation_columns=True,
    )
    return settings, deterministic


def run(dataset: Dataset, *, with_clusters: bool = False, seed: int = 2) -> SplinkRun:
    from splink import DuckDBAPI, Linker, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    frames = [_prepare(f) for f in dataset.frames]
    start = time.perf_counter()
    settings, deterministic = _settings(dataset)
    db_api = DuckDBAPI()
    sdfs = [db_api.register(f) for f in frames]
    linker = Linker(sdfs if len(sdfs) > 1 else sdfs[0], settings, log_level=logging.WARNING)
    recall = 0.9 if dataset.name == "febrl3" else 0.8
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=seed)
    without_tf = dataset.name == "febrl4"
    for rule in ("date_of_birth", "postcode"):
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on(rule), estimate_without_term_frequencies=without_tf
        )
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    frame = predictions.as_pandas_dataframe()  # type: ignore[no-untyped-call]
    seconds = time.perf_counter() - start
    pairs = canonical(zip(frame["rec_id_l"], frame["rec_id_r"], strict=True))
    cluster_pairs = None
    if with_clusters:
        from bench.resolution.metrics import pairs_from_labels

        clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=0.5
        )
        clusters = clustered.as_pandas_dataframe()  # type: ignore[no-untyped-call]
        cluster_pairs = pairs_from_labels(
            clusters["rec_id"].tolist(), clusters["cluster_id"].tolist()
        )
        if dataset.link_type == "link_only":
            cluster_pairs &= _cross(dataset, cluster_pairs)
    return SplinkRun(pairs, cluster_pairs, seconds)


def _cross(dataset: Dataset, pairs: set[Pair]) -> set[Pair]:
    """Only pairs across the two files count in a link-only task."""
    first = set(dataset.frames[0]["rec_id"])
    return {(a, b) for a, b in pairs if (a in first) != (b in first)}
