"""Each source error does what it says, and only that."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypinyin import Style, lazy_pinyin

from canonical_model.values.phone import parse_phone
from canonical_model.values.resident_id import check_digit, is_valid_resident_id, upgrade_legacy
from canonical_model.values.text import to_halfwidth, to_simplified
from simulators.district import errors

from .conftest import Truth

seeds = st.integers(min_value=0, max_value=2**32)


@pytest.fixture(scope="module")
def ids(truth: Truth) -> list[str]:
    return [p.id_number for p in truth.persons]


def test_a_legacy_id_upgrades_back_to_the_original(ids: list[str]) -> None:
    old = [i for i in ids if i[6:8] == "19"]
    assert old
    for id18 in old:
        id15 = errors.legacy_id(id18)
        assert len(id15) == 15
        assert upgrade_legacy(id15) == id18


def test_legacy_form_is_only_for_the_twentieth_century() -> None:
    assert errors.legacy_id("33010620100101001X") == "33010620100101001X"


@settings(max_examples=200)
@given(seed=seeds, pick=st.integers(min_value=0))
def test_a_mistyped_digit_fails_the_check_digit(ids: list[str], seed: int, pick: int) -> None:
    original = ids[pick % len(ids)]
    bad = errors.mistype_digit(original, random.Random(seed))
    assert len(bad) == 18
    assert bad != original
    assert sum(a != b for a, b in zip(bad, original, strict=True)) == 1
    assert check_digit(bad[:17]) != bad[17]


@settings(max_examples=200)
@given(seed=seeds, pick=st.integers(min_value=0))
def test_a_transposition_swaps_two_neighbours_and_fails_the_check(
    ids: list[str], seed: int, pick: int
) -> None:
    original = ids[pick % len(ids)]
    bad = errors.transpose_digits(original, random.Random(seed))
    diff = [i for i, (a, b) in enumerate(zip(bad, original, strict=True)) if a != b]
    assert len(diff) == 2
    assert diff[1] == diff[0] + 1
    assert sorted(bad) == sorted(original)
    assert not is_valid_resident_id(bad)


def _toneless(text: str) -> list[str]:
    return lazy_pinyin(text, style=Style.NORMAL)


def test_every_homophone_group_sounds_alike() -> None:
    for char, others in errors.HOMOPHONES.items():
        for other in others:
            assert _toneless(other) == _toneless(char), (char, other)


@pytest.mark.parametrize("name", ["王伟", "张丽华", "欧阳明", "李建军"])
def test_a_homophone_changes_one_character_and_keeps_the_sound(name: str) -> None:
    for seed in range(30):
        changed = errors.swap_homophone(name, random.Random(seed))
        assert changed != name
        assert len(changed) == len(name)
        assert sum(a != b for a, b in zip(changed, name, strict=True)) == 1
        assert _toneless(changed) == _toneless(name)


def test_a_name_without_homophones_is_left_alone() -> None:
    assert errors.swap_homophone("赵", random.Random(1)) == "赵"


def test_traditional_names_fold_back_to_the_simplified_one(truth: Truth) -> None:
    changed = 0
    for p in truth.persons[:1500]:
        traditional = errors.to_traditional(p.name)
        changed += traditional != p.name
        assert to_simplified(traditional) == p.name
    assert changed > 300
    assert errors.to_traditional("杨丽华") == "楊麗華"


def test_full_width_folds_back() -> None:
    text = "33010619500101123X 138-1234-5678"
    wide = errors.to_fullwidth(text)
    assert wide != text
    assert wide.isascii() is False
    assert to_halfwidth(wide) == text


@pytest.mark.parametrize(
    ("full", "short"),
    [
        pytest.param(
            "浙江省杭州市西湖区翠苑街道文三路259号3栋2单元302室",
            "西湖区翠苑街道文三路259号3-2-302",
            id="flat",
        ),
        pytest.param("浙江省杭州市西湖区文三路259号5号楼", "西湖区文三路259号5#", id="tower"),
        pytest.param("杭州市西湖区古墩路8号12幢601室", "西湖区古墩路8号12-601", id="no-unit"),
        pytest.param("上海市徐汇区宜山路100弄5号302室", "徐汇区宜山路100弄5号302室", id="city"),
    ],
)
def test_abbreviated_addresses(full: str, short: str) -> None:
    assert errors.abbreviate_address(full) == short


def test_random_abbreviation_always_shortens() -> None:
    full = "浙江省杭州市西湖区翠苑街道文三路259号3号楼2单元302室"
    for seed in range(50):
        short = errors.abbreviate_address(full, random.Random(seed))
        assert len(short) < len(full)


@settings(max_examples=100)
@given(seed=seeds)
def test_another_phone_is_a_different_valid_mobile(seed: int) -> None:
    number = errors.other_phone("13812345678", random.Random(seed))
    assert number != "13812345678"
    assert parse_phone(number).number == number


@settings(max_examples=100)
@given(seed=seeds, text=st.sampled_from(["王伟", "330106195001011234", "文三路259号"]))
def test_whitespace_noise_is_only_whitespace(seed: int, text: str) -> None:
    noisy = errors.whitespace_noise(text, random.Random(seed))
    assert noisy != text
    assert "".join(noisy.split()) == text


def test_callers_are_known_by_surname_and_title() -> None:
    assert errors.caller_name("王伟", "M") == "王先生"
    assert errors.caller_name("欧阳娜娜", "F") == "欧阳女士"
