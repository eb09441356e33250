"""The engine pieces the store needs: clerks' constraints in clustering, frozen term counts,
and the normaliser repairs the district's addresses and callers called for."""

from __future__ import annotations

import numpy as np
import pytest

from resolution.clustering import CANNOT_LINK, CONFLICT, constrained_components
from resolution.cn_normalisers import SIMPLE, WITH_ARG, honorific_surname
from resolution.features import Feature


def test_must_link_joins_first_and_cannot_link_holds_for_the_whole_person() -> None:
    # 0-1 and 1-2 match strongly; a clerk said 0 and 2 are two people; 3 joins 4 by hand
    left, right = np.array([0, 1]), np.array([1, 2])
    weight = np.array([20.0, 15.0])
    person, refused = constrained_components(
        5,
        left,
        right,
        weight,
        [],
        must=(np.array([3]), np.array([4])),
        cannot=(np.array([0]), np.array([2])),
    )
    assert person[0] == person[1]
    assert person[2] != person[0]  # the chain 0-1-2 may not carry 0 and 2 together
    assert refused.tolist() == [0, CANNOT_LINK]
    assert person[3] == person[4]


def test_must_link_overrides_a_conflicting_id_but_not_a_cannot_link() -> None:
    ids = [np.array([7, 9, -1])]
    empty = np.empty(0, dtype=np.int64)
    person, _ = constrained_components(
        3, empty, empty, np.empty(0), ids, must=(np.array([0]), np.array([1]))
    )
    assert person[0] == person[1]  # two valid IDs, but a clerk merged them
    person, refused = constrained_components(
        3,
        np.array([0]),
        np.array([1]),
        np.array([30.0]),
        ids,
        must=(np.array([1]), np.array([2])),
        cannot=(np.array([2]), np.array([0])),
    )
    assert refused.tolist() == [CONFLICT]
    assert len({person[0], person[1]}) == 2


def test_frozen_counts_replace_the_tables_term_frequencies() -> None:
    feat = Feature(
        "name", np.array([0, 0, 1]), np.array(["a", "b"], dtype=object), np.array([2, 1])
    )
    assert feat.frequency(np.array([0, 1])).tolist() == pytest.approx([2 / 3, 1 / 3])
    feat.frozen_counts, feat.frozen_total = np.array([10, 0]), 100
    # a value the fit never saw counts once: rare, as it was then
    assert feat.frequency(np.array([0, 1])).tolist() == pytest.approx([0.1, 0.01])


@pytest.mark.parametrize(
    ("text", "anchor"),
    [
        pytest.param(
            "浙江省杭州市西湖区蒋村街道清水一区社区文二路68号5号楼3单元102室",
            "文二路",
            id="街道+区社区",
        ),
        pytest.param(
            "浙江省杭州市西湖区留下街道丰潭新村社区华星路35弄382号2幢", "华星路", id="新村社区"
        ),
        pytest.param("西湖区文一\u3000西路589号2-2-201", "文一西路", id="space-in-road"),
    ],
)
def test_address_keys_survive_admin_names_and_stray_spaces(text: str, anchor: str) -> None:
    parts = SIMPLE["cn_address"](text)
    assert WITH_ARG["parts"]("anchor")(parts) == anchor


def test_a_title_is_not_a_given_name() -> None:
    assert honorific_surname("王先生") == "王"
    assert honorific_surname("欧阳女士") == "欧阳"
    assert honorific_surname("王建国") is None
    assert SIMPLE["honorific_surname_pinyin"]("欧阳女士") == "ou yang"


def test_the_person_index_scores_exactly_like_the_reference_comparisons() -> None:
    """The incremental scorer binds the newcomer's side of every test once; levels and
    weights must still be those of ``levels_for_values`` and the batch model."""
    from resolution import PersonIndex, resolve
    from resolution.comparisons import levels_for_values
    from resolution.features import normalise_record
    from tests.resolution.population import make_people, make_records

    records, _ = make_records(make_people(150))
    result = resolve(records, "cn_person")
    index = PersonIndex(result)
    backend = index.backend
    checked = 0
    for row in records.head(60).to_dict("records"):
        values = normalise_record(index.profile, row)
        for cand in index.score(values):
            other = backend.values_of(cand.record)  # type: ignore[attr-defined]
            assert list(cand.levels) == levels_for_values(index.profile, values, other)
            checked += 1
    assert checked > 60
