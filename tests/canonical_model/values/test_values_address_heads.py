"""The scanner's state after an address's head is kept per head (``address._HEADS``): a head
read once must give every later address that starts with it the split the reference gives.

Heads and tails are drawn from the pieces that steer the scanner (suffixes, province names,
directions, Chinese numerals, separators, ``#`` and ``-``) and every head is joined to every
tail, in shuffled order, so a head's state is reused after tails of every kind.
"""

from __future__ import annotations

import random

import pytest

from canonical_model.values import address as scanner
from canonical_model.values import parse_address
from canonical_model.values._address_tables import ALNUM, DIRECTIONS, SEPARATORS, SUFFIXES
from canonical_model.values.text import CN_NUMERAL_CHARS
from tests.canonical_model.values import address_reference as reference

_HEAD_PIECES = (
    "杭州市", "西湖区", "北京", "北京市", "上海市辖区", "吉林市", "浙江省", "宁波市镇海区",
    "温州", "鄞州区", "杨村路", "文一西路", "五四路", "中山北路", "北京路", "南", "东",
    "街道", "社区", "村", "大街", "阳光花园", "小区", "校区", "景区", "厂", "一", "十二",
    "三号", "二单元", "弄", "号", "楼", "层", "组", "#", "-", "，", " ", "(", "州", "市", "区",
    "A", "B座", "c",
)  # fmt: skip
_TAIL_PIECES = (
    "8", "12", "3-2-302", "1-2", "号", "号楼", "#", "#楼", "单元", "室", "弄", "栋", "幢",
    "楼", "层", "A", "b", "-", " ", "，", "路", "区", "市", "小区", "五", "一〇二", "村",
)  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_known_head_splits_every_tail_as_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    heads = {"".join(rng.choices(_HEAD_PIECES, k=rng.randint(0, 5))) for _ in range(150)}
    tails = {
        rng.choice("0123456789") + "".join(rng.choices(_TAIL_PIECES, k=rng.randint(0, 5)))
        for _ in range(40)
    }
    texts = [h + t for h in heads for t in tails]
    rng.shuffle(texts)
    scanner._HEADS.clear()
    differ = [
        t
        for t in texts
        if reference.outcome(parse_address, t) != reference.outcome(reference.parse_address, t)
    ]
    assert differ == []
    # The heads were kept and reused: the path under test was taken.
    assert len(scanner._HEADS) >= len(heads) // 2


def test_a_digit_reads_as_the_argument_for_heads_assumes() -> None:
    """A digit is a letter-or-digit and nothing else the scanner asks about."""
    digits = scanner._DIGITS
    assert digits <= ALNUM
    for chars in (SEPARATORS, CN_NUMERAL_CHARS, DIRECTIONS, SUFFIXES, scanner._HOUSE_BY_FIRST):
        assert digits.isdisjoint(chars)
    assert digits.isdisjoint("#-")


def test_the_kept_heads_are_bounded() -> None:
    scanner._HEADS.clear()
    spell = str.maketrans("0123456789abcdef", "路街区市村巷镇乡东南西北中号楼室")
    for i in range(scanner._HEADS_MAX + 10):
        parse_address(f"{i:x}".translate(spell) + "1号")  # a new head each time
    assert 0 < len(scanner._HEADS) <= scanner._HEADS_MAX
