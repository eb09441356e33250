"""The synthetic-district part: any records table with known truth, scored the same way.

The district simulator (later) produces a ``cn_person`` table plus the true person of each
row; this module only needs those two, so the simulator can call
:func:`evaluate_records` directly or write a CSV with a ``truth`` column for
``python -m bench.resolution --synthetic FILE``.  There is no Splink figure here: Splink
has no Chinese comparisons to configure fairly.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bench.resolution.metrics import pairs_from_labels, score
from resolution import resolve


def evaluate_records(
    records: pd.DataFrame, truth: Sequence[Hashable], profile: str = "cn_person"
) -> dict[str, Any]:
    """Pairwise scores of gridhub's persons and matched pairs against ``truth``."""
    keys = (records["source"].astype(str) + "\x1f" + records["source_key"].astype(str)).tolist()
    true_pairs = pairs_from_labels(keys, list(truth))
    start = time.perf_counter()
    result = resolve(records, profile)
    seconds = time.perf_counter() - start
    clusters = result.clusters()
    found = pairs_from_labels(keys, clusters["person_id"].tolist())
    left, right = result.match_pairs()
    matched = {(keys[a], keys[b]) if keys[a] < keys[b] else (keys[b], keys[a])
               for a, b in zip(left.tolist(), right.tolist(), strict=True)}  # fmt: skip
    return {
        "records": len(records),
        "seconds": round(seconds, 3),
        "persons": result.stats["persons"],
        "review_pairs": result.stats["review"],
        "insufficient": result.stats["insufficient"],
        "clusters": score(found, true_pairs).__dict__,
        "pairs": score(matched, true_pairs).__dict__,
    }


def evaluate_csv(path: Path, truth_column: str = "truth") -> dict[str, Any]:
    records = pd.read_csv(path, dtype=str, keep_default_na=False)
    truth = records.pop(truth_column).tolist()
    return evaluate_records(records, truth)
