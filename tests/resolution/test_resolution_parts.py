"""The engine's parts: metrics and their bounds, levels, blocking, clustering, profiles."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pandas as pd
import pytest

from resolution import ProfileError, builtin_profiles, golden_records, load_profile
from resolution.blocking import candidate_pairs
from resolution.clustering import constrained_components
from resolution.comparisons import comparison_matrix, levels_for_values
from resolution.features import build_features, normalise_record
from resolution.normalisers import make_step
from resolution.profile import parse_profile
from resolution.similarity import (
    _damerau_levenshtein_py,
    _jaro_winkler_py,
    char_profile,
    damerau_levenshtein,
    date_swap,
    jaro_winkler,
    metric_on_pairs,
    transposition,
)
from tests.resolution.population import make_people, make_records


def random_words(n: int, alphabet: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) for _ in range(n)]
    # near-duplicates, so every threshold has pairs on both sides
    words += [w[:-1] + rng.choice(alphabet) for w in words[: n // 2]]
    words += [w[1:] + w[0] for w in words[: n // 4]]
    return words


@pytest.mark.parametrize("alphabet", ["abcde", "0123456789", "王李张伟芳明華"])
def test_fallback_metrics_equal_jellyfish(alphabet: str) -> None:
    words = random_words(80, alphabet, 1)
    for a, b in itertools.islice(itertools.product(words, words), 0, None, 5):
        assert _jaro_winkler_py(a, b) == pytest.approx(jaro_winkler(a, b), abs=1e-12)
        assert _damerau_levenshtein_py(a, b) == damerau_levenshtein(a, b)


@pytest.mark.parametrize(
    ("metric", "threshold"),
    [("jaro_winkler", 0.7), ("jaro_winkler", 0.92), ("damerau_levenshtein", 1),
     ("damerau_levenshtein", 2), ("transposition", 1), ("date_swap", 1)],
)  # fmt: skip
@pytest.mark.parametrize("alphabet", ["abcdef", "0123456789", "王李张伟芳明華"])
def test_bounds_never_drop_a_passing_pair(metric: str, threshold: float, alphabet: str) -> None:
    """The cheap sieves may keep failures but must never discard a pair that passes."""
    words = [*random_words(100, alphabet, 2), "19800102", "19800201", "19800120"]
    values = np.asarray(sorted(set(words)), dtype=object)
    profile = char_profile(values)
    codes = np.arange(len(values))
    left, right = (x.ravel() for x in np.meshgrid(codes, codes))
    got = metric_on_pairs(metric, (values, values), (profile, profile), left, right, threshold)
    fn = {"jaro_winkler": jaro_winkler, "damerau_levenshtein": damerau_levenshtein,
          "transposition": transposition, "date_swap": date_swap}[metric]  # fmt: skip
    truth = np.array([float(fn(values[a], values[b])) for a, b in zip(left, right, strict=True)])
    if metric == "damerau_levenshtein":
        passing = truth <= threshold
        np.testing.assert_array_equal(got[passing], truth[passing])
        assert (got[~passing] > threshold).all()
    else:
        passing = truth >= threshold
        np.testing.assert_allclose(got[passing], truth[passing])
        assert (got[~passing] < threshold).all()


def test_transposition_and_date_swap() -> None:
    assert transposition("123456", "124356")
    assert not transposition("123456", "123456")
    assert not transposition("123456", "214365")
    assert date_swap("19800102", "19800201")
    assert not date_swap("19800102", "19810201")


@pytest.mark.parametrize(
    ("step", "raw", "want"),
    [
        ("date", "1985-3-2", "19850302"),
        ("date", "1985年3月2日", "19850302"),
        ("date", "1985/03/02 00:00:00", "19850302"),
        ("date", "19851302", "19851302"),  # impossible dates kept for the typo levels
        ("date", "85-3-2", None),
        ("resident_id", "110105491231002", "11010519491231002X"),
        ("resident_id", "11010519491231002x", "11010519491231002X"),
        ("resident_id", "11010519491231002Y", "11010519491231002"),  # letters dropped
        ("resident_id", "110105194912310021", "110105194912310021"),  # bad check digit kept
        ("resident_id_valid", "110105194912310021", None),
        ("phone", "+86 138-1234-5678", "13812345678"),
        ("gender", "女", "F"),
        ("gender", "1", "M"),
        ("gender", "未知", None),
    ],
)
def test_normaliser_steps(step: str, raw: str, want: str | None) -> None:
    assert make_step(step)(raw) == want


def test_address_parts_keys() -> None:
    parse = make_step("cn_address")
    room = make_step("parts:anchor,lane?,number?,building?,unit?,room")
    building = make_step("parts:anchor,lane?,number?,building")
    a = parse("杭州市西湖区文一西路8号3幢2单元302室")
    b = parse("文一西路八号三幢二单元302")
    c = parse("文一西路8号3幢3单元302室")
    assert room(a) == room(b) != room(c)
    assert building(a) == building(c)
    assert make_step("parts:community")(a) is None


def test_vectorised_and_single_pair_levels_agree() -> None:
    """The incremental path scores pairs in Python; it must see the same levels."""
    profile = load_profile("cn_person")
    records, _ = make_records(make_people(80))
    table = build_features(records, profile)
    rng = np.random.default_rng(0)
    il, ir, _ = candidate_pairs(table, profile.blocking, "link_and_dedupe", 1000)
    extra = rng.integers(0, table.n, (300, 2))
    il = np.concatenate([il, extra[:, 0]])
    ir = np.concatenate([ir, extra[:, 1]])
    matrix = comparison_matrix(table, profile, il, ir)
    rows = records.to_dict("records")
    values = [normalise_record(profile, r) for r in rows]
    for k, (a, b) in enumerate(zip(il.tolist(), ir.tolist(), strict=True)):
        assert levels_for_values(profile, values[a], values[b]) == matrix[k].tolist()


def test_blocking_equals_brute_force_with_cap_and_link_only() -> None:
    data = {
        "given_name": ["ann", "ann", "bob", "ann", "cat", "bob", "dan"],
        "surname": ["lee", "kim", "ann", "lee", "lee", "ann", "ann"],
        "postcode": ["1", "1", "1", "1", "1", "2", "2"],
    }
    frame = pd.DataFrame(data).assign(source=list("aabbbab"), source_key=[str(i) for i in range(7)])
    profile = load_profile("febrl")
    table = build_features(frame, profile)

    def brute(rule_pairs: list[tuple[str, str]], cap: int, link_only: bool) -> set[tuple[int, int]]:
        out = set()
        for i, j in itertools.combinations(range(7), 2):
            if link_only and frame.source[i] == frame.source[j]:
                continue
            for left, right in ((i, j), (j, i)):
                if all(data[a][left] == data[b][right] for a, b in rule_pairs):
                    out.add((i, j))
        return out

    from resolution.profile import _rule

    cases = [(["given_name"], 10), (["postcode"], 4), (["given_name=surname"], 10)]
    for spec, cap in cases:
        rule = _rule(spec)
        for link in ("dedupe", "link_only"):
            il, ir, stats = candidate_pairs(table, (rule,), link, cap)  # type: ignore[arg-type]
            want = brute(list(rule.terms), cap, link == "link_only")
            if spec == ["postcode"]:
                want = {p for p in want if data["postcode"][p[0]] != "1"}  # block of 5 > cap
                assert stats.skipped_blocks["postcode"] == 1
            assert set(zip(il.tolist(), ir.tolist(), strict=True)) == want, (spec, link)


def test_constrained_components_refuse_the_weakest_link() -> None:
    # records 0 and 2 hold different valid IDs; 1 has none and matches both
    conflict = [np.array([7, -1, 9, -1])]
    left, right = np.array([0, 1, 2]), np.array([1, 2, 3])
    weight = np.array([20.0, 12.0, 15.0])
    person, refused = constrained_components(4, left, right, weight, conflict)
    assert person[0] == person[1]
    assert person[2] == person[3]
    assert person[0] != person[2]
    assert refused.tolist() == [False, True, False]
    person, refused = constrained_components(4, left, right, weight, [])
    assert len(set(person.tolist())) == 1
    assert not refused.any()


def test_profiles_validate() -> None:
    assert {"cn_person", "febrl"} <= set(builtin_profiles())
    good = {
        "name": "x",
        "input": {"columns": ["a"]},
        "features": {"a": {"from": "a", "normalise": ["strip"]}},
        "comparisons": [{"name": "a", "key": "a", "levels": [{"kind": "exact"}]}],
        "blocking": {"rules": [["a"]]},
        "training": {"em_rules": [["a"]]},
        "thresholds": {"match_probability": 0.9, "review_probability": 0.5},
    }
    assert parse_profile(good).name == "x"
    bad_feature = {**good, "blocking": {"rules": [["b"]]}}
    with pytest.raises(ProfileError, match="unknown features"):
        parse_profile(bad_feature)
    bad_threshold = {**good, "thresholds": {"match_probability": 0.4, "review_probability": 0.5}}
    with pytest.raises(ProfileError, match="thresholds"):
        parse_profile(bad_threshold)
    bad_kind = {**good, "comparisons": [{"name": "a", "key": "a", "levels": [{"kind": "soundex"}]}]}
    with pytest.raises(ProfileError, match="unknown level kind"):
        parse_profile(bad_kind)
    with pytest.raises(ProfileError, match="unknown profile"):
        load_profile("nope")


def test_golden_record_rules() -> None:
    records = pd.DataFrame(
        {
            "source": ["hukou", "grid_app", "health"],
            "name": ["张伟", "章伟", "张伟"],
            "phone": ["13800000001", "13800000002", ""],
            "updated": ["2020-01-01", "2024-05-01", "2023-01-01"],
        }
    )
    golden = golden_records(
        records,
        ["P1", "P1", "P1"],
        source_priority={"hukou": 0, "health": 1},
        timestamp_column="updated",
    )
    assert golden.loc[0, "name"] == "张伟"  # the register's spelling wins
    assert golden.loc[0, "phone"] == "13800000002"  # the latest number wins


def test_csv_reader_handles_gb18030_bom_and_missing_columns(tmp_path: object) -> None:
    from pathlib import Path

    from resolution.csv_input import read_csv_records

    folder = Path(str(tmp_path))
    (folder / "gbk.csv").write_bytes(
        "source_key,name,phone\n1,张三,13800000000\n".encode("gb18030")
    )
    (folder / "bom.csv").write_text("\ufeffsource,name\nhealth,李四\n", encoding="utf-8")
    problems: list[object] = []
    result = read_csv_records(
        [folder / "gbk.csv", folder / "bom.csv"], load_profile("cn_person"), report=problems.append
    )
    frame = result.records
    assert frame["name"].tolist() == ["张三", "李四"]
    assert frame["source"].tolist() == ["gbk", "health"]  # file stem when no source column
    assert frame["source_key"].tolist() == ["1", "L2"]  # line number when no key
    assert frame["id_number"].tolist() == ["", ""]
    assert [str(p) for p in problems] == [
        "bom.csv:1: no 'source_key' column: rows are keyed by line number"
    ]
