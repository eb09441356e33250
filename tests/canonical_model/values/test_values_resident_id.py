"""Resident identity numbers (GB 11643-1999): decoding, every rejection, properties."""

from __future__ import annotations

import pickle
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canonical_model.values import InvalidResidentId, InvalidValue
from canonical_model.values.resident_id import (
    PROVINCE_CODES,
    ResidentId,
    check_digit,
    is_valid_resident_id,
    parse_resident_id,
    upgrade_legacy,
)

TODAY = date(2025, 6, 1)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def oracle_check(first17: str) -> str:
    """The standard's weighted sum, written out independently of the implementation."""
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


@pytest.mark.parametrize(
    ("first17", "expected"),
    [
        pytest.param("11010519491231002", "X", id="well-known-X"),
        pytest.param("44030119900307001", "9", id="shenzhen"),
        pytest.param("31011519851120452", "3", id="shanghai"),
        pytest.param("33010619721015283", "0", id="hangzhou"),
        pytest.param("51010720000229001", "0", id="leap-day"),
    ],
)
def test_check_digit(first17: str, expected: str) -> None:
    assert check_digit(first17) == expected == oracle_check(first17)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        pytest.param("1101051949123100", "length", id="16-digits"),
        pytest.param("1101051949123100A", "characters", id="letter"),
        pytest.param(
            "１１０１０５１９４９１２３１００２", "characters", id="fullwidth-not-accepted"
        ),
    ],
)
def test_check_digit_rejects_bad_input(bad: str, reason: str) -> None:
    with pytest.raises(InvalidResidentId) as info:
        check_digit(bad)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("text", "number", "region", "birth", "gender", "legacy"),
    [
        pytest.param(
            "11010519491231002X",
            "11010519491231002X",
            "110105",
            date(1949, 12, 31),
            "F",
            False,
            id="well-known",
        ),
        pytest.param(
            "11010519491231002x",
            "11010519491231002X",
            "110105",
            date(1949, 12, 31),
            "F",
            False,
            id="lowercase-x",
        ),
        pytest.param(
            "  440301199003070019\t",
            "440301199003070019",
            "440301",
            date(1990, 3, 7),
            "M",
            False,
            id="surrounding-whitespace",
        ),
        pytest.param(
            "３１０１１５１９８５１１２０４５２３",
            "310115198511204523",
            "310115",
            date(1985, 11, 20),
            "F",
            False,
            id="fullwidth-digits",
        ),
        pytest.param(
            "　３３０１０６１９７２１０１５２８３０　",
            "330106197210152830",
            "330106",
            date(1972, 10, 15),
            "M",
            False,
            id="fullwidth-with-ideographic-space",
        ),
        pytest.param(
            "510107200002290010",
            "510107200002290010",
            "510107",
            date(2000, 2, 29),
            "M",
            False,
            id="leap-day",
        ),
        pytest.param(
            "440301900307001",
            "440301199003070019",
            "440301",
            date(1990, 3, 7),
            "M",
            True,
            id="legacy-15",
        ),
        pytest.param(
            "110105491231002",
            "11010519491231002X",
            "110105",
            date(1949, 12, 31),
            "F",
            True,
            id="legacy-15-to-X",
        ),
        pytest.param(
            "810000199001010019",
            "810000199001010019",
            "810000",
            date(1990, 1, 1),
            "M",
            False,
            id="hong-kong-resident",
        ),
    ],
)
def test_parse_valid(
    text: str, number: str, region: str, birth: date, gender: str, legacy: bool
) -> None:
    rid = parse_resident_id(text, today=TODAY)
    assert (rid.number, rid.region_code, rid.birth_date, rid.gender, rid.legacy) == (
        number,
        region,
        birth,
        gender,
        legacy,
    )
    assert rid.province_code == region[:2]
    assert is_valid_resident_id(text, today=TODAY)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("   \u3000 ", "empty", id="only-spaces"),
        pytest.param("11010519491231002", "length", id="17-digits"),
        pytest.param("11010519491231002X1", "length", id="19-chars"),
        pytest.param("1101051949123", "length", id="13-digits"),
        pytest.param("11010519491231002Y", "characters", id="letter-at-end"),
        pytest.param("110105-19491231002X", "characters", id="dash"),
        pytest.param("110105 19491231002X", "characters", id="inner-space"),
        pytest.param("11010519491231X02X", "characters", id="x-not-last"),
        pytest.param("11010549123100X", "characters", id="x-in-legacy"),
        pytest.param("N/A", "characters", id="placeholder"),
        pytest.param("１１０１０５一九四九１２３１００２Ｘ", "characters", id="han-numerals"),
        pytest.param("000000199001010010", "region", id="zero-region"),
        pytest.param("990101199001010015", "region", id="province-99"),
        pytest.param("160101199001010012", "region", id="province-16"),
        pytest.param("110105194902300024", "birth_date", id="feb-30"),
        pytest.param("110105194913010021", "birth_date", id="month-13"),
        pytest.param("110105189912310015", "birth_date", id="before-1900"),
        pytest.param("110101202506020015", "birth_date", id="after-today"),
        pytest.param("110105490230002", "birth_date", id="legacy-feb-30"),
        pytest.param("110105194912310021", "check_digit", id="wrong-check-digit"),
        pytest.param("110105194912310020", "check_digit", id="digit-instead-of-X"),
    ],
)
def test_parse_invalid(text: str, reason: str) -> None:
    with pytest.raises(InvalidResidentId) as info:
        parse_resident_id(text, today=TODAY)
    err = info.value
    assert (err.field, err.reason) == ("resident_id", reason)
    assert str(err) == f"resident_id: {err.detail}"
    assert not is_valid_resident_id(text, today=TODAY)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("110105194912310021", id="check-digit"),
        pytest.param("110105194902300024", id="birth-date"),
        pytest.param("990101199001010015", id="region"),
        pytest.param("11010519491231002Y", id="characters"),
    ],
)
def test_error_detail_does_not_leak_the_number(text: str) -> None:
    with pytest.raises(InvalidResidentId) as info:
        parse_resident_id(text, today=TODAY)
    message = f"{info.value} {info.value!r}"
    for fragment in (text, text[:6], text[6:14], text[10:]):
        assert fragment not in message


def test_error_is_a_value_error_and_pickles() -> None:
    with pytest.raises(ValueError, match="check digit does not match") as info:
        parse_resident_id("110105194912310021", today=TODAY)
    err = info.value
    assert isinstance(err, InvalidValue)
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is InvalidResidentId
    assert (clone.field, clone.reason, clone.detail) == (err.field, err.reason, err.detail)


def test_today_defaults_to_the_real_date() -> None:
    tomorrow = date.today() + timedelta(days=1)
    first17 = f"110101{tomorrow:%Y%m%d}001"
    with pytest.raises(InvalidResidentId) as info:
        parse_resident_id(first17 + oracle_check(first17))
    assert info.value.reason == "birth_date"
    assert parse_resident_id(first17 + oracle_check(first17), today=tomorrow).birth_date == tomorrow


def test_masked_repr_and_str_hide_birth_date() -> None:
    rid = parse_resident_id("11010519491231002X")
    assert rid.masked() == "110105********002X"
    assert "19491231" not in repr(rid)
    assert str(rid) == "110105********002X"


def test_legacy_and_modern_forms_are_equal_values() -> None:
    old = parse_resident_id("110105491231002")
    new = parse_resident_id("11010519491231002X")
    assert old.legacy
    assert not new.legacy
    assert old == new
    assert hash(old) == hash(new)


def test_upgrade_legacy() -> None:
    assert upgrade_legacy("110105491231002") == "11010519491231002X"
    assert upgrade_legacy(" ４４０３０１９００３０７００１ ") == "440301199003070019"


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        pytest.param("11010549123100", "length", id="14-digits"),
        pytest.param("11010519491231002X", "length", id="already-18"),
        pytest.param("11010549123100X", "characters", id="x"),
    ],
)
def test_upgrade_legacy_rejects(bad: str, reason: str) -> None:
    with pytest.raises(InvalidResidentId) as info:
        upgrade_legacy(bad)
    assert info.value.reason == reason


def test_constructor_validates() -> None:
    good = ResidentId("11010519491231002X", "110105", date(1949, 12, 31), "F")
    assert good == parse_resident_id("11010519491231002X")
    with pytest.raises(InvalidResidentId) as info:
        ResidentId("11010519491231002X", "110105", date(1949, 12, 31), "M")
    assert info.value.reason == "inconsistent"
    with pytest.raises(InvalidResidentId) as info:
        ResidentId("11010519491231002x", "110105", date(1949, 12, 31), "F")
    assert info.value.reason == "inconsistent"
    with pytest.raises(InvalidResidentId) as info:
        ResidentId("110105194912310021", "110105", date(1949, 12, 31), "F")
    assert info.value.reason == "check_digit"


# --- properties --------------------------------------------------------------------------

_PROVINCES = sorted(PROVINCE_CODES)


@st.composite
def valid_ids(draw: st.DrawFn) -> tuple[str, str, date, str]:
    """(number, region, birth date, gender) of a structurally valid 18-digit number."""
    region = draw(st.sampled_from(_PROVINCES)) + draw(st.from_regex(r"[0-9]{4}", fullmatch=True))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    seq = draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    first17 = f"{region}{born:%Y%m%d}{seq}"
    return first17 + oracle_check(first17), region, born, "M" if int(seq[2]) % 2 else "F"


@given(valid_ids())
def test_property_round_trip(case: tuple[str, str, date, str]) -> None:
    number, region, born, gender = case
    rid = parse_resident_id(number, today=TODAY)
    assert (rid.number, rid.region_code, rid.birth_date, rid.gender) == (
        number,
        region,
        born,
        gender,
    )
    assert not rid.legacy
    assert parse_resident_id(number.lower(), today=TODAY) == rid


@given(valid_ids().filter(lambda c: c[2].year < 2000))
def test_property_legacy_upgrade_round_trip(case: tuple[str, str, date, str]) -> None:
    number = case[0]
    legacy = number[:6] + number[8:17]
    assert upgrade_legacy(legacy) == number
    rid = parse_resident_id(legacy, today=TODAY)
    assert rid.legacy
    assert rid.number == number


_DETECTED = {"check_digit", "birth_date", "region", "characters"}


@settings(max_examples=60)
@given(valid_ids())
def test_property_every_single_substitution_is_detected(case: tuple[str, str, date, str]) -> None:
    number = case[0]
    for pos, original in enumerate(number):
        alphabet = "0123456789X" if pos == 17 else "0123456789"
        for replacement in alphabet:
            if replacement == original:
                continue
            mutated = number[:pos] + replacement + number[pos + 1 :]
            with pytest.raises(InvalidResidentId) as info:
                parse_resident_id(mutated, today=TODAY)
            assert info.value.field == "resident_id"
            assert info.value.reason in _DETECTED


@settings(max_examples=100)
@given(valid_ids())
def test_property_every_adjacent_transposition_is_detected(
    case: tuple[str, str, date, str],
) -> None:
    number = case[0]
    for pos in range(17):
        a, b = number[pos], number[pos + 1]
        if a == b:
            continue
        mutated = number[:pos] + b + a + number[pos + 2 :]
        with pytest.raises(InvalidResidentId) as info:
            parse_resident_id(mutated, today=TODAY)
        assert info.value.reason in _DETECTED
