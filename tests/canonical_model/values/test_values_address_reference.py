"""The faster address scanner splits every address exactly as the one it replaced.

The sample is a synthetic district's addresses as every source writes them, each also in
the forms clerks type: full-width digits, traditional script, Chinese numerals for house
numbers, building-unit-room dash shorthand, stray spaces and separators.
"""

from __future__ import annotations

import re

import pytest
from opencc import OpenCC

from canonical_model.values import parse_address
from canonical_model.values.text import to_simplified
from simulators.district import District
from simulators.district.sources import SOURCES
from tests.canonical_model.values import address_reference as reference

_FULLWIDTH = {cp: cp + 0xFEE0 for cp in range(0x21, 0x7F)}
_CN_DIGITS = dict(zip("0123456789", "〇一二三四五六七八九", strict=True))
_HOUSE_VALUE = re.compile(r"([0-9]+)(?=[号幢栋单室弄楼])")
_DASHED = re.compile(r"([0-9]+)[幢栋]([0-9]+)单元([0-9]+)室")


def _variants(text: str, traditional: OpenCC) -> list[str]:
    return [
        text,
        text.translate(_FULLWIDTH),
        str(traditional.convert(text)),
        _HOUSE_VALUE.sub(lambda m: "".join(_CN_DIGITS[d] for d in m.group(1)), text),
        _DASHED.sub(r"\1-\2-\3", text),
        "\u3000" + text.replace("号", "号 ").replace("区", "区，") + " ",
        text[: len(text) // 2],  # cut short: a half-written address
    ]


@pytest.fixture(scope="module")
def addresses() -> list[str]:
    district = District(persons=1200, seed=23)
    written = {
        value
        for source in SOURCES
        for row in district.view(source)
        for key, value in row.fields.items()
        if "address" in key and isinstance(value, str) and value
    }
    traditional = OpenCC("s2t")
    return sorted({v for text in sorted(written) for v in _variants(text, traditional)})


def test_the_sample_has_every_form(addresses: list[str]) -> None:
    assert len(addresses) > 3000
    for marker in ("號", "區", "３", "三〇", "-", "\u3000", "，"):
        assert any(marker in a for a in addresses), marker


def test_every_address_splits_as_before(addresses: list[str]) -> None:
    differ = [
        a
        for a in addresses
        if reference.outcome(parse_address, a) != reference.outcome(reference.parse_address, a)
    ]
    assert differ == []


def test_traditional_text_simplifies_as_opencc_does_on_the_whole(addresses: list[str]) -> None:
    """``to_simplified`` converts the pieces between ASCII runs apart: the same text."""
    whole = OpenCC("t2s")
    mixed = [a for a in addresses if not a.isascii()]
    assert sum(1 for a in mixed if to_simplified(a) != a) > 500
    assert [to_simplified(a) for a in mixed] == [str(whole.convert(a)) for a in mixed]
