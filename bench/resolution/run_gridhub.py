"""gridhub's engine on the benchmark data, through the same entry point the CLI uses."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

from bench.resolution.febrl import Dataset
from bench.resolution.metrics import Pair, canonical, pairs_from_labels
from resolution import Resolution, resolve


@dataclass
class GridhubRun:
    pairs: set[Pair]  # pairs the model scored as matches (Splink's predict equivalent)
    cluster_pairs: set[Pair]  # pairs within the persons it finally formed
    seconds: float
    resolution: Resolution


def febrl_records(dataset: Dataset) -> pd.DataFrame:
    """The FEBRL files as the CLI would read them: source = file, source_key = rec_id."""
    frames = []
    for number, frame in enumerate(dataset.frames):
        source = dataset.name if len(dataset.frames) == 1 else f"{dataset.name}{'ab'[number]}"
        frames.append(frame.assign(source=source, source_key=frame["rec_id"]))
    return pd.concat(frames, ignore_index=True)


def run(dataset: Dataset, profile: str = "febrl") -> GridhubRun:
    records = febrl_records(dataset)
    start = time.perf_counter()
    result = resolve(records, profile)
    seconds = time.perf_counter() - start
    keys = result.table.source_keys
    left, right = result.match_pairs()
    pairs = canonical(zip(keys[left].tolist(), keys[right].tolist(), strict=True))
    clusters = result.clusters()
    cluster_pairs = pairs_from_labels(clusters["source_key"].tolist(), clusters["person_id"])
    if result.link_type == "link_only":
        source = dict(zip(clusters["source_key"], clusters["source"], strict=True))
        cluster_pairs = {(a, b) for a, b in cluster_pairs if source[a] != source[b]}
    return GridhubRun(pairs, cluster_pairs, seconds, result)


def incremental_latency(dataset: Dataset, held_out: int = 1000) -> dict[str, float | int]:
    """One-at-a-time matching: index all but ``held_out`` records, then match those.

    A preview of the store-backed path's latency (the target there is p99 < 20 ms at
    1M persons); here the index lives in memory and the table is FEBRL-sized.
    """
    import numpy as np

    from resolution import PersonIndex

    records = febrl_records(dataset)
    base = resolve(records.iloc[:-held_out].reset_index(drop=True), "febrl")
    index = PersonIndex(base)
    seconds = []
    decisions: dict[str, int] = {}
    for row in records.iloc[-held_out:].to_dict("records"):
        start = time.perf_counter()
        result = index.match(row)
        seconds.append(time.perf_counter() - start)
        decisions[result.decision] = decisions.get(result.decision, 0) + 1
    ms = np.asarray(seconds) * 1000
    return {
        "indexed_records": len(records) - held_out,
        "queries": held_out,
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        **{f"decided_{k}": v for k, v in sorted(decisions.items())},
    }
