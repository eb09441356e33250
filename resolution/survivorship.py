"""Golden records: which value of each field a person's unified record shows.

Sources disagree (an old phone in the household register, a new one in the grid
worker's app), and the unified record must pick one per field by a stated rule, not by
whichever row came last.  Rules are per field so policy can differ: identifiers by
agreement, contact details by recency, names by the most authoritative source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["CN_PERSON_RULES", "SurvivorshipRule", "golden_records"]

Strategy = Literal["most_frequent", "most_recent", "source_priority"]


@dataclass(frozen=True)
class SurvivorshipRule:
    """How one field survives; ties fall back to source priority, then recency."""

    column: str
    strategy: Strategy = "most_frequent"


CN_PERSON_RULES: tuple[SurvivorshipRule, ...] = (
    SurvivorshipRule("id_number", "most_frequent"),
    SurvivorshipRule("name", "source_priority"),
    SurvivorshipRule("birth_date", "most_frequent"),
    SurvivorshipRule("gender", "most_frequent"),
    SurvivorshipRule("phone", "most_recent"),
    SurvivorshipRule("address", "most_recent"),
)


def golden_records(
    records: pd.DataFrame,
    person_id: Sequence[str] | pd.Series,
    rules: Sequence[SurvivorshipRule] = CN_PERSON_RULES,
    *,
    source_priority: Mapping[str, int] | None = None,
    timestamp_column: str | None = None,
) -> pd.DataFrame:
    """One row per person with the surviving value of each rule's column.

    ``source_priority`` ranks sources (lower wins; unlisted sources rank last);
    ``timestamp_column`` orders recency (later wins; without it, later rows win).
    """
    frame = records.reset_index(drop=True).copy()
    frame["_person"] = np.asarray(person_id, dtype=object)
    ranks = source_priority or {}
    frame["_rank"] = frame["source"].map(lambda s: ranks.get(str(s), len(ranks)))
    if timestamp_column is not None:
        frame["_time"] = pd.to_datetime(frame[timestamp_column], errors="coerce")
    else:
        frame["_time"] = np.arange(len(frame))
    out = pd.DataFrame(index=pd.Index(sorted(frame["_person"].unique()), name="person_id"))
    for rule in rules:
        if rule.column not in frame.columns:
            continue
        values = frame[rule.column].astype(object)
        present = frame[values.notna() & (values.astype(str).str.strip() != "")].copy()
        present["_value"] = present[rule.column].astype(str).str.strip()
        present["_count"] = present.groupby(["_person", "_value"])["_value"].transform("size")
        order = {
            "most_frequent": (["_count", "_rank", "_time"], [False, True, False]),
            "most_recent": (["_time", "_rank"], [False, True]),
            "source_priority": (["_rank", "_time"], [True, False]),
        }[rule.strategy]
        best = present.sort_values(order[0], ascending=order[1], kind="stable")
        best = best.drop_duplicates("_person").set_index("_person")["_value"]
        out[rule.column] = best.reindex(out.index)
    return out.reset_index()
