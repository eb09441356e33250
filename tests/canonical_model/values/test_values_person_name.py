"""Personal names: written normal form, surname split, phonetic keys."""

from __future__ import annotations

import pytest

from canonical_model.values import (
    InvalidName,
    initials_key,
    normalize_name,
    pinyin_key,
    split_surname,
)
from canonical_model.values.person_name import (
    _HAN_ONLY,
    _PLAIN_HAN,
    MAX_NAME_LENGTH,
    _has_phrase,
    _syllables,
    _syllables_full,
    _without_typing_noise,
)
from simulators.district import District


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("王伟", "王伟", id="plain"),
        pytest.param("王偉", "王伟", id="traditional"),
        pytest.param("王　伟", "王伟", id="ideographic-space"),
        pytest.param("  王 伟  ", "王伟", id="ascii-spaces"),
        pytest.param("歐陽娜娜", "欧阳娜娜", id="traditional-compound"),
        pytest.param("买买提·艾力", "买买提·艾力", id="middle-dot"),
        pytest.param("买买提•艾力", "买买提·艾力", id="bullet"),
        pytest.param("买买提‧艾力", "买买提·艾力", id="hyphenation-point"),
        pytest.param("买买提・艾力", "买买提·艾力", id="katakana-dot"),
        pytest.param("买买提．艾力", "买买提·艾力", id="fullwidth-full-stop"),
        pytest.param("买买提.艾力", "买买提·艾力", id="ascii-full-stop"),
        pytest.param("买买提 · 艾力", "买买提·艾力", id="spaces-around-dot"),
        pytest.param("阿卜杜拉·买买提·艾力", "阿卜杜拉·买买提·艾力", id="two-dots"),
        pytest.param("張乾", "张乾", id="qian-kept"),
        pytest.param("於丽", "於丽", id="yu-surname-kept"),
        pytest.param("Mary  Ann", "Mary Ann", id="latin-spaces-collapsed"),
        pytest.param("ＷＡＮＧ　Ｗｅｉ", "WANG Wei", id="fullwidth-latin"),
        pytest.param("王 Mary", "王Mary", id="mixed"),
        pytest.param("Mary-Jane O'Neil", "Mary-Jane O'Neil", id="latin-hyphen-apostrophe"),
    ],
)
def test_normalize_name(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param(" \u3000 ", "empty", id="blank"),
        pytest.param("王伟2", "characters", id="digit"),
        pytest.param("王伟２", "characters", id="fullwidth-digit"),
        pytest.param("王@伟", "characters", id="symbol"),
        pytest.param("王伟（女）", "characters", id="parenthesised-note"),
        pytest.param("·王伟", "characters", id="leading-dot"),
        pytest.param("王伟·", "characters", id="trailing-dot"),
        pytest.param("王··伟", "characters", id="double-dot"),
        pytest.param("王-伟", "characters", id="hyphen-between-han"),
        pytest.param("Mary-", "characters", id="dangling-hyphen"),
        pytest.param("王 ·", "characters", id="dot-then-end"),
        pytest.param("王" * (MAX_NAME_LENGTH + 1), "length", id="too-long"),
        pytest.param("王" * 10_000, "length", id="huge"),
    ],
)
def test_normalize_name_invalid(raw: str, reason: str) -> None:
    with pytest.raises(InvalidName) as info:
        normalize_name(raw)
    assert (info.value.field, info.value.reason) == ("name", reason)


def test_longest_allowed_name() -> None:
    assert normalize_name("王" * MAX_NAME_LENGTH) == "王" * MAX_NAME_LENGTH


@pytest.mark.parametrize(
    ("name", "surname", "given"),
    [
        pytest.param("王伟", "王", "伟", id="single"),
        pytest.param("欧阳娜娜", "欧阳", "娜娜", id="ouyang"),
        pytest.param("司马光", "司马", "光", id="sima"),
        pytest.param("诸葛亮", "诸葛", "亮", id="zhuge"),
        pytest.param("上官婉儿", "上官", "婉儿", id="shangguan"),
        pytest.param("尉迟恭", "尉迟", "恭", id="yuchi"),
        pytest.param("长孙无忌", "长孙", "无忌", id="zhangsun"),
        pytest.param("令狐冲", "令狐", "冲", id="linghu"),
        pytest.param("歐陽修", "欧阳", "修", id="traditional-compound"),
        pytest.param("欧阳", "欧", "阳", id="two-chars-not-compound"),
        pytest.param("王", "王", "", id="one-char"),
        pytest.param("买买提·艾力", "艾力", "买买提", id="dot"),
        pytest.param("阿卜杜拉·买买提·艾力", "艾力", "阿卜杜拉·买买提", id="last-dot"),
        pytest.param("Mary Ann Smith", "Smith", "Mary Ann", id="latin"),
    ],
)
def test_split_surname(name: str, surname: str, given: str) -> None:
    assert split_surname(name) == (surname, given)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        pytest.param("王伟", "wang wei", id="plain"),
        pytest.param("曾国藩", "zeng guo fan", id="zeng"),
        pytest.param("单雄信", "shan xiong xin", id="shan"),
        pytest.param("解缙", "xie jin", id="xie"),
        pytest.param("仇英", "qiu ying", id="qiu"),
        pytest.param("朴槿惠", "piao jin hui", id="piao"),
        pytest.param("查良镛", "zha liang yong", id="zha"),
        pytest.param("区志坚", "ou zhi jian", id="ou"),
        pytest.param("覃明", "qin ming", id="qin"),
        pytest.param("尉迟恭", "yu chi gong", id="yuchi"),
        pytest.param("长孙无忌", "zhang sun wu ji", id="zhangsun"),
        pytest.param("欧阳娜娜", "ou yang na na", id="ouyang"),
        pytest.param("吕布", "lv bu", id="umlaut-as-v"),
        pytest.param("买买提·艾力", "mai mai ti ai li", id="dot-name"),
        pytest.param("Mary Ann", "mary ann", id="latin"),
        pytest.param("王偉", "wang wei", id="traditional"),
        pytest.param("张乾", "zhang qian", id="qian-not-gan"),
    ],
)
def test_pinyin_key(name: str, key: str) -> None:
    assert pinyin_key(name) == key


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("尉迟恭", id="yuchi"),
        pytest.param("长孙无忌", id="zhangsun"),
        pytest.param("曾国藩", id="zeng"),
        pytest.param("单雄信", id="shan"),
        pytest.param("欧阳娜娜", id="ouyang"),
    ],
)
def test_surname_alone_keys_like_inside_the_full_name(name: str) -> None:
    surname, _ = split_surname(name)
    assert pinyin_key(name).startswith(pinyin_key(surname) + " ")


def test_surname_reading_only_applies_to_the_surname() -> None:
    # 曾 as a given-name character keeps the word reading; only the surname is overridden.
    assert pinyin_key("王曾") == "wang ceng"
    assert pinyin_key("曾曾") == "zeng ceng"


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param("张伟", "章伟", id="homophone-surname"),
        pytest.param("王伟", "王偉", id="traditional"),
        pytest.param("王伟", "王　伟", id="spacing"),
        pytest.param("买买提·艾力", "买买提•艾力", id="dot-variant"),
    ],
)
def test_keys_merge_variants(left: str, right: str) -> None:
    assert pinyin_key(left) == pinyin_key(right)
    assert initials_key(left) == initials_key(right)


@pytest.mark.parametrize(
    ("name", "initials"),
    [
        pytest.param("王小明", "wxm", id="three"),
        pytest.param("欧阳娜娜", "oynn", id="compound"),
        pytest.param("买买提·艾力", "mmtal", id="dot"),
        pytest.param("曾国藩", "zgf", id="surname-reading"),
    ],
)
def test_initials_key(name: str, initials: str) -> None:
    assert initials_key(name) == initials


def test_keys_reject_invalid_names() -> None:
    with pytest.raises(InvalidName) as info:
        pinyin_key("王伟2")
    assert info.value.reason == "characters"
    with pytest.raises(InvalidName):
        split_surname("")


def test_han_only_names_skip_the_character_checks_without_changing_the_result() -> None:
    """``normalize_name`` returns a Han-only name without the per-character pass: that pass
    would have left it as it is (and traditional script is still simplified)."""
    names = {p.name for p in District(persons=600, seed=5).persons()}
    names |= {"張偉", "於乾昇", "〇", "𠀀明"}
    assert all(_HAN_ONLY.fullmatch(n) for n in names)
    assert all(_without_typing_noise(n) == n for n in names)
    assert normalize_name("張偉") == "张伟"
    assert normalize_name("於乾昇") == "於乾昇"
    for typed in ("王　伟", "买买提•艾力", "Mary  Ann", "王伟1"):
        assert _HAN_ONLY.fullmatch(typed) is None  # these take the checking path


def test_names_without_a_dictionary_phrase_read_as_pypinyin_reads_them() -> None:
    """``_syllables`` joins per-character readings where no run of the name is a phrase of
    pypinyin's dictionary; it must give what pypinyin's segmenter gives, name for name."""
    names = {normalize_name(p.name) for p in District(persons=3000, seed=11).persons()}
    names |= {"张红霞", "石英", "长孙无忌", "曾国藩", "单田芳", "〇", "𠀀明", "买买提·艾力", "Mary"}
    # A phrase reads its characters otherwise than each alone: 重庆 chong, 长江 chang, 音乐 yue.
    names |= {"李重庆", "王长江", "陈音乐", "赵朝阳", "吴会计"}
    joined = [n for n in names if _PLAIN_HAN.fullmatch(n) and not _has_phrase(n)]
    assert len(joined) > len(names) // 2  # the per-character path is the one under test
    assert "张红霞" not in joined  # phrases take pypinyin's path
    assert "石英" not in joined
    assert [_syllables(n) for n in sorted(names)] == [_syllables_full(n) for n in sorted(names)]


def test_has_phrase_looks_at_every_run_of_two_or_more_characters() -> None:
    from pypinyin.constants import PHRASES_DICT

    def every_run(text: str) -> bool:
        n = len(text)
        return any(text[i:j] in PHRASES_DICT for i in range(n) for j in range(i + 2, n + 1))

    names = {normalize_name(p.name) for p in District(persons=2000, seed=5).persons()}
    names |= {"重庆", "李重庆", "重庆人", "长孙无忌", "王长江水", "张", "欧阳长江", "石英"}
    assert {len(n) for n in names} >= {1, 2, 3, 4}
    assert any(every_run(n) for n in names if len(n) == 3)  # each spelled-out case is met
    assert any(every_run(n) for n in names if len(n) == 2)
    assert [n for n in names if _has_phrase(n)] == [n for n in names if every_run(n)]
