"""An address is scanned once per shape, its digits as holes (``_address_shapes``): every later
address of that shape must split exactly as the reference splits it, whatever its digits.

Addresses are drawn from the pieces that steer the scanner (suffixes, numerals, separators,
``#`` and ``-``) with runs of digits between them — leading zeros, dash groups, runs that are
house values and runs that are floors — and each shape comes back with other digits, in
shuffled order, so the kept split of every shape is used.
"""

from __future__ import annotations

import random

import pytest

from canonical_model.values import address as scanner
from canonical_model.values import parse_address
from canonical_model.values._address_shapes import Shapes
from tests.canonical_model.values import address_reference as reference

_PIECES = (
    "杭州市", "西湖区", "北京", "上海市辖区", "文一西路", "五四路", "中山北路", "街道", "社区",
    "阳光花园", "小区", "号", "号楼", "#", "#楼", "-", "弄", "幢", "栋", "单元", "室", "楼",
    "层", "，", " ", "三号", "二单元", "一〇二", "十二", "路", "村", "组",
)  # fmt: skip


def _digits(rng: random.Random) -> str:
    return rng.choice(("0", "", "", "")) + str(rng.randint(0, 3000))


def _address(rng: random.Random, shape: list[str | None]) -> str:
    return "".join(p if p is not None else _digits(rng) for p in shape)


@pytest.fixture(autouse=True)
def _fresh() -> None:
    scanner._HEADS.clear()
    scanner._SHAPES.clear()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_address_of_a_known_shape_splits_as_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    shapes = [
        [rng.choice((*_PIECES, None, None, None)) for _ in range(rng.randint(1, 9))]
        for _ in range(400)
    ]
    texts = [_address(rng, shape) for shape in shapes for _ in range(4)]
    rng.shuffle(texts)
    differ = [
        t
        for t in texts
        if reference.outcome(parse_address, t) != reference.outcome(reference.parse_address, t)
    ]
    assert differ == []
    # The path under test was taken: shapes were kept, and most of them with their split.
    known = scanner._SHAPES._known
    with_holes = sum(None in shape for shape in shapes)
    assert len(known) >= with_holes * 3 // 4
    assert sum(split is not None for split in known.values()) >= len(known) * 3 // 4


def test_leading_zeros_are_dropped_in_the_parts_the_kept_split_fills() -> None:
    first = parse_address("杭州市西湖区文一西路8号3幢2单元202室")
    again = parse_address("杭州市西湖区文一西路08号03幢002单元0202室")
    group = parse_address("杭州市西湖区文一西路8号03-002-0202-1")
    assert (first.number, first.building, first.unit, first.room) == ("8", "3", "2", "202")
    assert (again.number, again.building, again.unit, again.room) == ("8", "3", "2", "202")
    assert (group.building, group.unit, group.room) == ("3", "2", "202-1")
    assert len(scanner._SHAPES) == 2


def test_a_numeral_that_spells_a_stand_in_keeps_its_shape_scanned() -> None:
    """一百万零三 is 1000003, the first stand-in: the learned split would take it for a hole."""
    texts = ["文一西路一百万零三号5幢", "文一西路一百万零三号7幢", "文一西路一百万零三号1000003幢"]
    for text in texts:
        assert reference.outcome(parse_address, text) == reference.outcome(
            reference.parse_address, text
        )
    assert list(scanner._SHAPES._known.values()) == [None]
    assert parse_address(texts[1]).number == "1000003"


@pytest.mark.parametrize(
    "text",
    ["文一西路12A号3幢", "文一西路8号B座012室", "文一西路\x008号", "文一西路8号" + "1" * 30 + "室"],
)
def test_letters_the_hole_marker_and_long_runs_are_scanned_every_time(text: str) -> None:
    assert reference.outcome(parse_address, text) == reference.outcome(
        reference.parse_address, text
    )
    assert len(scanner._SHAPES) == 0


def test_the_kept_shapes_are_bounded() -> None:
    shapes = Shapes(lambda s: scanner._Scanner(s).run(), most=50)
    spell = str.maketrans("0123456789abcdef", "路街区市村巷镇乡东南西北中号楼室")
    for i in range(120):
        shapes.split(f"{i:x}".translate(spell) + "路1号")
    assert 0 < len(shapes) <= 50
