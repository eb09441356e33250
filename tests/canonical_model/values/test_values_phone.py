"""Telephone numbers: every accepted spelling, every rejection."""

from __future__ import annotations

import pytest

from canonical_model.values import InvalidPhone, Phone, is_valid_phone, parse_phone


@pytest.mark.parametrize(
    ("text", "kind", "number", "ext"),
    [
        pytest.param("13812345678", "mobile", "13812345678", None, id="bare-mobile"),
        pytest.param(" 13812345678 ", "mobile", "13812345678", None, id="surrounding-space"),
        pytest.param("+86 138 1234 5678", "mobile", "13812345678", None, id="plus86-spaces"),
        pytest.param("+86-138-1234-5678", "mobile", "13812345678", None, id="plus86-dashes"),
        pytest.param("+8613812345678", "mobile", "13812345678", None, id="plus86-compact"),
        pytest.param("(+86)13812345678", "mobile", "13812345678", None, id="plus86-parens"),
        pytest.param("0086 13812345678", "mobile", "13812345678", None, id="0086"),
        pytest.param("8613812345678", "mobile", "13812345678", None, id="86-no-plus"),
        pytest.param("138.1234.5678", "mobile", "13812345678", None, id="dots"),
        pytest.param("138-1234-5678", "mobile", "13812345678", None, id="dashes"),
        pytest.param(
            "＋８６　１３８１２３４５６７８", "mobile", "13812345678", None, id="fullwidth"
        ),
        pytest.param("１３８—１２３４—５６７８", "mobile", "13812345678", None, id="em-dashes"),
        pytest.param("013812345678", "mobile", "13812345678", None, id="trunk-zero-mobile"),
        pytest.param("19912345678", "mobile", "19912345678", None, id="199-range"),
        pytest.param("010-12345678", "landline", "010-12345678", None, id="beijing"),
        pytest.param("(010)12345678", "landline", "010-12345678", None, id="parens"),
        pytest.param(
            "（０１０）－１２３４５６７８",
            "landline",
            "010-12345678",
            None,
            id="fullwidth-parens-dash",
        ),
        pytest.param("010 1234 5678", "landline", "010-12345678", None, id="spaces"),
        pytest.param("01012345678", "landline", "010-12345678", None, id="compact"),
        pytest.param("021-62345678", "landline", "021-62345678", None, id="shanghai"),
        pytest.param("0571-88888888", "landline", "0571-88888888", None, id="four-digit-area"),
        pytest.param("0571-8888888", "landline", "0571-8888888", None, id="seven-digit-local"),
        pytest.param("+86 10 12345678", "landline", "010-12345678", None, id="intl-landline"),
        pytest.param("+86 571 8888 8888", "landline", "0571-88888888", None, id="intl-landline-4"),
        pytest.param("0086-10-12345678", "landline", "010-12345678", None, id="0086-landline"),
        pytest.param("010-12345678转8001", "landline", "010-12345678", "8001", id="zhuan-ext"),
        pytest.param(
            "010-12345678 轉 8001", "landline", "010-12345678", "8001", id="traditional-zhuan"
        ),
        pytest.param("010-12345678分机123", "landline", "010-12345678", "123", id="fenji"),
        pytest.param("010-12345678 ext. 12", "landline", "010-12345678", "12", id="ext-dot"),
        pytest.param("010-12345678 EXT 12", "landline", "010-12345678", "12", id="ext-upper"),
        pytest.param("010-12345678x12", "landline", "010-12345678", "12", id="x"),
        pytest.param("010-12345678-8001", "landline", "010-12345678", "8001", id="dash-ext"),
        pytest.param("0571-8888888-12", "landline", "0571-8888888", "12", id="dash-ext-7"),
        pytest.param("13812345678转1", "mobile", "13812345678", "1", id="mobile-ext"),
    ],
)
def test_parse_valid(text: str, kind: str, number: str, ext: str | None) -> None:
    phone = parse_phone(text)
    assert (phone.kind, phone.number, phone.ext) == (kind, number, ext)
    assert is_valid_phone(text)


@pytest.mark.parametrize(
    ("text", "area", "number", "ext"),
    [
        pytest.param("88888888", "0571", "0571-88888888", None, id="eight-digits"),
        pytest.param("8888888", "571", "0571-8888888", None, id="area-without-zero"),
        pytest.param("6234 5678", "021", "021-62345678", None, id="spaced"),
        pytest.param("62345678转12", "(021)", "021-62345678", "12", id="parens-and-ext"),
        pytest.param("62345678-12", "021", "021-62345678", "12", id="dash-ext"),
        pytest.param("010-12345678", "0571", "010-12345678", None, id="explicit-area-wins"),
        pytest.param("13812345678", "0571", "13812345678", None, id="mobile-ignores-default"),
    ],
)
def test_default_area_code(text: str, area: str, number: str, ext: str | None) -> None:
    phone = parse_phone(text, default_area_code=area)
    assert (phone.number, phone.ext) == (number, ext)


@pytest.mark.parametrize(
    ("text", "reason", "area"),
    [
        pytest.param("", "empty", None, id="empty"),
        pytest.param(" \u3000 ", "empty", None, id="blank"),
        pytest.param("abc", "characters", None, id="letters"),
        pytest.param("138-1234-567a", "characters", None, id="letter-inside"),
        pytest.param("电话13812345678", "characters", None, id="label"),
        pytest.param("138+12345678", "characters", None, id="plus-inside"),
        pytest.param("()", "characters", None, id="no-digits"),
        pytest.param("010-12345678转abc", "characters", None, id="ext-letters"),
        pytest.param("1381234567", "length", None, id="mobile-10"),
        pytest.param("138123456789", "length", None, id="mobile-12"),
        pytest.param("12345", "length", None, id="hotline"),
        pytest.param("010-123456", "length", None, id="local-6"),
        pytest.param("010-1234567890", "length", None, id="local-10"),
        pytest.param("123456", "length", "0571", id="bare-6"),
        pytest.param("010-12345678转", "length", None, id="ext-empty"),
        pytest.param("010-12345678转1234567", "length", None, id="ext-7"),
        pytest.param("+86", "length", None, id="only-country-code"),
        pytest.param("12345678901", "prefix", None, id="mobile-12x"),
        pytest.param("+1 202 555 0123", "prefix", None, id="foreign"),
        pytest.param("00852 2345 6789", "prefix", None, id="other-international"),
        pytest.param("010-02345678", "prefix", None, id="local-leading-zero"),
        pytest.param("0123-12345678", "area_code", None, id="area-012"),
        pytest.param("88888888", "area_code", None, id="no-area-no-default"),
        pytest.param("88888888", "area_code", "12", id="bad-default"),
    ],
)
def test_parse_invalid(text: str, reason: str, area: str | None) -> None:
    with pytest.raises(InvalidPhone) as info:
        parse_phone(text, default_area_code=area)
    assert (info.value.field, info.value.reason) == ("phone", reason)
    assert not is_valid_phone(text, default_area_code=area)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("1381234567", id="length"),
        pytest.param("12345678901", id="prefix"),
        pytest.param("0123-12345678", id="area"),
    ],
)
def test_error_does_not_leak_the_number(text: str) -> None:
    with pytest.raises(InvalidPhone) as info:
        parse_phone(text)
    assert "12345678" not in str(info.value)
    assert "1234567" not in repr(info.value)


@pytest.mark.parametrize(
    ("text", "masked", "e164", "area"),
    [
        pytest.param("13812345678", "138****5678", "+8613812345678", None, id="mobile"),
        pytest.param("010-12345678", "010-****5678", "+861012345678", "010", id="landline-8"),
        pytest.param("0571-8888888转9", "0571-***8888", "+865718888888", "0571", id="landline-7"),
    ],
)
def test_masked_e164_area(text: str, masked: str, e164: str, area: str | None) -> None:
    phone = parse_phone(text)
    assert phone.masked() == masked
    assert phone.e164 == e164
    assert phone.area_code == area
    assert str(phone) == masked
    assert phone.number not in repr(phone)


def test_constructor_validates_normal_form() -> None:
    assert Phone("mobile", "13812345678") == parse_phone("+86 138 1234 5678")
    assert Phone("landline", "010-12345678", "8001") == parse_phone("(010)12345678转8001")
    for kind, number, ext in [
        ("mobile", "138-1234-5678", None),
        ("landline", "01012345678", None),
        ("landline", "13812345678", None),
        ("mobile", "13812345678", "ext1"),
    ]:
        with pytest.raises(InvalidPhone) as info:
            Phone(kind, number, ext)  # type: ignore[arg-type]
        assert info.value.reason == "format"


def test_same_number_different_spellings_compare_equal() -> None:
    spellings = [
        "13812345678",
        "+86 138-1234-5678",
        "＋８６１３８１２３４５６７８",
        "0086.138.1234.5678",
    ]
    assert len({parse_phone(s) for s in spellings}) == 1
