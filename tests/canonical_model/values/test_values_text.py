"""Text folding helpers shared by every value parser."""

from __future__ import annotations

import pytest

from canonical_model.values.text import cn_numeral_to_int, fold, to_halfwidth, to_simplified


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("１３８１２３４５６７８", "13812345678", id="fullwidth-digits"),
        pytest.param("ＡＢＣａｂｃ", "ABCabc", id="fullwidth-letters"),
        pytest.param("（０１０）－１２３", "(010)-123", id="fullwidth-punctuation"),
        pytest.param("王　伟", "王 伟", id="ideographic-space"),
        pytest.param("＋８６", "+86", id="fullwidth-plus"),
        pytest.param("plain ascii", "plain ascii", id="ascii-unchanged"),
        pytest.param("上海市", "上海市", id="han-unchanged"),
    ],
)
def test_to_halfwidth(raw: str, expected: str) -> None:
    assert to_halfwidth(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("朝陽區建國路十二號", "朝阳区建国路十二号", id="address"),
        pytest.param("王偉", "王伟", id="name"),
        pytest.param("歐陽娜娜", "欧阳娜娜", id="compound-surname"),
        pytest.param("臺灣", "台湾", id="variant"),
        pytest.param("沈默", "沉默", id="phrase-level"),
        pytest.param("沈阳", "沈阳", id="phrase-kept"),
        pytest.param("浙江省杭州市西湖区", "浙江省杭州市西湖区", id="already-simplified"),
        pytest.param("abc 123", "abc 123", id="ascii"),
        pytest.param("", "", id="empty"),
        pytest.param("國" * 100, "国" * 100, id="long-uncached"),
    ],
)
def test_to_simplified(raw: str, expected: str) -> None:
    assert to_simplified(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("一", 1, id="one"),
        pytest.param("十", 10, id="ten"),
        pytest.param("十二", 12, id="twelve"),
        pytest.param("二十", 20, id="twenty"),
        pytest.param("二十二", 22, id="twenty-two"),
        pytest.param("一百零三", 103, id="hundred-zero-three"),
        pytest.param("一百一十", 110, id="hundred-ten"),
        pytest.param("一百一", 110, id="colloquial-hundred-ten"),
        pytest.param("三千五", 3500, id="colloquial-thousands"),
        pytest.param("一千零五十", 1050, id="thousand-zero-fifty"),
        pytest.param("两百", 200, id="liang"),
        pytest.param("三〇二", 302, id="positional-ling-circle"),
        pytest.param("一〇二", 102, id="positional-room"),
        pytest.param("一零二", 102, id="positional-ling"),
        pytest.param("〇", 0, id="zero"),
        pytest.param("一万零五", 10005, id="wan"),
        pytest.param("三万五", 35000, id="colloquial-wan"),
        pytest.param("壹佰贰拾叁", 123, id="financial"),
        pytest.param("", None, id="empty"),
        pytest.param("百", None, id="bare-hundred"),
        pytest.param("万", None, id="bare-wan"),
        pytest.param("十十", None, id="repeated-unit"),
        pytest.param("一二十", None, id="two-digits-before-unit"),
        pytest.param("十二号", None, id="trailing-text"),
        pytest.param("12", None, id="arabic"),
        pytest.param("一万万", None, id="double-wan"),
    ],
)
def test_cn_numeral_to_int(raw: str, expected: int | None) -> None:
    assert cn_numeral_to_int(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("  上海市　浦東新區  ", "上海市 浦东新区", id="space-fullwidth-traditional"),
        pytest.param("ＡＢＣ１２３", "ABC123", id="fullwidth"),
        pytest.param("a \t b\n c", "a b c", id="collapse-ascii"),
        pytest.param("①号", "1号", id="nfkc-circled"),
        pytest.param("Abc", "Abc", id="case-kept"),
    ],
)
def test_fold(raw: str, expected: str) -> None:
    assert fold(raw) == expected


def test_composed_table_is_halfwidth_then_the_callers_table() -> None:
    """Every character folds in one step exactly as in two, and the pattern finds just those."""
    from canonical_model.values._address_tables import DASHES
    from canonical_model.values.text import compose_halfwidth

    table, finds = compose_halfwidth(DASHES)
    chars = [chr(cp) for cp in range(0x2000, 0x3100)] + [chr(cp) for cp in range(0xFE00, 0x10000)]
    chars += [chr(cp) for cp in range(0x80)] + list("路号栋單元室")
    for c in chars:
        two_steps = to_halfwidth(c).translate(DASHES)
        assert c.translate(table) == two_steps, repr(c)
        assert (finds.search(c) is not None) == (two_steps != c), repr(c)
    assert "文一西路８～１０号".translate(table) == "文一西路8-10号"  # ～ → ~ → -


def test_halfwidth_without_fullwidth_characters_returns_the_text() -> None:
    text = "杭州市西湖区文一西路481号3幢2单元302室"
    assert to_halfwidth(text) is text
    assert to_halfwidth(text + "　") == text + " "
