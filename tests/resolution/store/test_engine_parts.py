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


def test_a_callers_title_gives_a_gender_and_hides_the_given_name() -> None:
    gender, name_full = SIMPLE["gender_or_title"], SIMPLE["not_honorific"]
    assert gender("王女士") == "F"
    assert gender("欧阳先生") == "M"
    assert gender("男 王女士") == "M"  # a recorded gender wins over the title
    assert gender("王师傅") is None  # 师傅 says nothing about gender
    assert gender("王建国") is None
    assert name_full("王女士") is None
    assert name_full("王建国") == "王建国"


def test_the_caller_surname_speaks_only_when_a_side_is_a_caller() -> None:
    """Two full names leave ``caller_surname`` null (``name`` already compared them); a
    caller against anyone compares surnames, and the name comparison says nothing."""
    import pandas as pd

    from resolution import build_features, load_profile
    from resolution.comparisons import NULL_LEVEL, comparison_matrix, levels_for_values
    from resolution.features import normalise_record

    profile = load_profile("cn_person")
    rows = [
        {"source": "hotline", "source_key": "1", "name": "王女士", "phone": "13800000001"},
        {"source": "health", "source_key": "2", "name": "王芳", "gender": "女"},
        {"source": "health", "source_key": "3", "name": "王建国", "gender": "男"},
        {"source": "hotline", "source_key": "4", "name": "李先生"},
        {"source": "hotline", "source_key": "5", "name": "王女士"},
    ]
    records = pd.DataFrame(rows)
    table = build_features(records, profile)
    il, ir = np.triu_indices(len(rows), 1)
    matrix = comparison_matrix(table, profile, il.astype(np.int64), ir.astype(np.int64))
    values = [normalise_record(profile, r) for r in rows]
    for k, (a, b) in enumerate(zip(il.tolist(), ir.tolist(), strict=True)):
        assert levels_for_values(profile, values[a], values[b]) == matrix[k].tolist()
    names = [c.name for c in profile.comparisons]
    caller, name, gender = (names.index(n) for n in ("caller_surname", "name", "gender"))
    pairs = zip(il.tolist(), ir.tolist(), strict=True)
    level = {(a, b): matrix[k] for k, (a, b) in enumerate(pairs)}
    assert level[(1, 2)][caller] == NULL_LEVEL  # 王芳 / 王建国: two full names
    assert level[(1, 2)][name] != NULL_LEVEL
    assert level[(0, 1)][caller] == 0  # 王女士 / 王芳: same surname
    assert level[(0, 1)][name] == NULL_LEVEL
    assert level[(0, 1)][gender] == 0  # 女士 reads F
    assert level[(0, 2)][gender] == 1  # ... and 王建国 is M
    assert level[(1, 3)][caller] == 1  # 李先生 / 王芳: another surname
    assert level[(0, 4)][caller] == 0  # two callers


def test_callers_m_is_learnt_where_callers_are_not_echoed_from_the_start_value() -> None:
    """No training rule blocks callers (no ID, no birth date) together, so every session
    sees ``caller_surname`` null; its m must come from the candidates, where a caller
    shares a phone with the resident, and make a shared surname evidence for a match."""
    import pandas as pd

    from resolution import resolve
    from tests.resolution.population import make_people, make_records

    people = make_people(150)
    records, _ = make_records(people)
    callers = pd.DataFrame(
        {
            "source": "hotline",
            "source_key": [f"c{k}" for k in range(60)],
            "name": [p.name[0] + ("先生" if p.gender == "男" else "女士") for p in people[:60]],
            "phone": [p.phone for p in people[:60]],
        }
    )
    result = resolve(pd.concat([records, callers], ignore_index=True), "cn_person")
    names = [c.name for c in result.model.comparisons]
    k = names.index("caller_surname")
    assert any(h.get("rule") == "candidates" and k in h["estimated"] for h in result.model.history)
    assert result.model.comparisons[k].weights[0] > 2.0  # same surname: for
    assert result.model.comparisons[k].weights[1] < -2.0  # another surname: against
