# ruff: noqa: PT017  (a property is "a result or this typed error": the except branch asserts)
"""Property-based fuzzing of the canonical value types (resident ID, phone, name, text).

Each parser either returns its normal form or raises its own ``InvalidValue`` subclass —
never anything else — and the normal forms obey the rules the rest of the hub relies on:
an accepted resident ID really satisfies GB 11643, normalising twice changes nothing, and
an error's text never repeats the value it refused (PIPL).
"""

from __future__ import annotations

import pickle
from datetime import date, timedelta

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from canonical_model.values import (
    InvalidName,
    InvalidPhone,
    InvalidResidentId,
    check_digit,
    cn_numeral_to_int,
    fold,
    initials_key,
    is_valid_phone,
    is_valid_resident_id,
    normalize_name,
    parse_phone,
    parse_resident_id,
    pinyin_key,
    split_surname,
    to_halfwidth,
    to_simplified,
    upgrade_legacy,
)
from canonical_model.values.person_name import _KEEP_IN_NAMES, DOT, MAX_NAME_LENGTH
from canonical_model.values.resident_id import PROVINCE_CODES, ResidentId

TODAY = date(2026, 1, 1)
_WEIGHTS = [pow(2, 17 - j, 11) for j in range(17)]
_FULLWIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")

# Text that looks like what sources send: digits (half and full width), X, separators, Han.
id_like_text = st.text(
    alphabet=st.sampled_from(list("0123456789Xx ０１２３４５６７８９Ｘ-\t\u3000一二abc")),
    max_size=24,
)


@st.composite
def valid_ids(draw: st.DrawFn, *, born_from: date = date(1900, 1, 1)) -> str:
    province = draw(st.sampled_from(sorted(PROVINCE_CODES)))
    region = province + draw(st.from_regex(r"\A[0-9]{4}\Z"))
    born = draw(st.dates(min_value=born_from, max_value=TODAY))
    seq = draw(st.integers(min_value=0, max_value=999))
    first17 = f"{region}{born:%Y%m%d}{seq:03d}"
    return first17 + check_digit(first17)


def _oracle_valid(text: str) -> bool:
    """GB 11643 spelled out independently of the implementation under test."""
    s = to_halfwidth(text.strip()).strip()
    if len(s) == 15 and s.isascii() and s.isdigit():
        s17 = s[:6] + "19" + s[6:]
        s = s17 + "10X98765432"[sum(int(c) * w for c, w in zip(s17, _WEIGHTS, strict=True)) % 11]
    if len(s) != 18 or not (s.isascii() and s[:17].isdigit()):
        return False
    last = s[17].upper()
    if last not in "0123456789X" or s[:2] not in PROVINCE_CODES:
        return False
    if "10X98765432"[sum(int(c) * w for c, w in zip(s[:17], _WEIGHTS, strict=True)) % 11] != last:
        return False
    try:
        born = date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= TODAY


# -- resident IDs ---------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.one_of(id_like_text, st.text(max_size=30), valid_ids()))
@example("11010519491231002x")
@example("１１０１０５１９４９１２３１００２Ｘ")
@example("110105491231002")
def test_resident_id_parser_agrees_with_an_independent_oracle(text: str) -> None:
    try:
        rid = parse_resident_id(text, today=TODAY)
    except InvalidResidentId as exc:
        assert not _oracle_valid(text)
        assert exc.field == "resident_id"
        assert exc.reason in {
            "empty",
            "characters",
            "length",
            "region",
            "birth_date",
            "check_digit",
        }
        assert not is_valid_resident_id(text, today=TODAY)
        return
    assert _oracle_valid(text)
    assert is_valid_resident_id(text, today=TODAY)
    assert len(rid.number) == 18
    assert rid.number[:17].isdigit()
    assert rid.number[17] in "0123456789X"
    assert rid.birth_date <= TODAY
    assert rid.gender == ("M" if int(rid.number[16]) % 2 else "F")
    assert rid.region_code == rid.number[:6]
    assert parse_resident_id(rid.number, today=TODAY) == rid  # the normal form is a fixpoint


@given(valid_ids(), st.sampled_from(["plain", "lower", "fullwidth", "padded"]))
def test_every_accepted_spelling_of_a_valid_id_gives_the_same_number(number: str, how: str) -> None:
    text = {
        "plain": number,
        "lower": number.lower(),
        "fullwidth": number.translate(_FULLWIDTH),
        "padded": f" \u3000{number}\t",
    }[how]
    assert parse_resident_id(text, today=TODAY).number == number


@settings(max_examples=300)
@given(valid_ids(), st.integers(min_value=0, max_value=17), st.data())
def test_a_single_wrong_character_is_always_refused(
    number: str, position: int, data: st.DataObject
) -> None:
    alphabet = "0123456789X" if position == 17 else "0123456789"
    wrong = data.draw(st.sampled_from([c for c in alphabet if c != number[position]]))
    mutated = number[:position] + wrong + number[position + 1 :]
    assert not is_valid_resident_id(mutated, today=TODAY)


@given(valid_ids(), st.integers(min_value=0, max_value=16))
def test_swapping_two_neighbouring_digits_is_always_refused(number: str, i: int) -> None:
    assume(number[i] != number[i + 1] and number[i + 1] != "X")
    swapped = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
    assert not is_valid_resident_id(swapped, today=TODAY)


@given(valid_ids(born_from=date(1900, 1, 1)).filter(lambda n: n[6:8] == "19"))
def test_a_legacy_number_upgrades_to_its_18_digit_form(number: str) -> None:
    legacy = number[:6] + number[8:17]
    assert upgrade_legacy(legacy) == number
    rid = parse_resident_id(legacy, today=TODAY)
    assert rid.legacy
    assert rid.number == number
    assert rid == parse_resident_id(number, today=TODAY)  # provenance is not identity


@given(valid_ids())
def test_a_birth_date_after_today_is_refused(number: str) -> None:
    born = parse_resident_id(number, today=TODAY).birth_date
    the_day_before = born - timedelta(days=1)
    assume(the_day_before >= date(1900, 1, 1))
    try:
        parse_resident_id(number, today=the_day_before)
    except InvalidResidentId as exc:
        assert exc.reason == "birth_date"
    else:
        raise AssertionError("a person born after 'today' was accepted")


@given(valid_ids(), st.sampled_from(["ResidentId", "pickle"]))
def test_the_value_object_revalidates_and_survives_pickling(number: str, how: str) -> None:
    rid = parse_resident_id(number, today=TODAY)
    if how == "ResidentId":
        assert ResidentId(rid.number, rid.region_code, rid.birth_date, rid.gender) == rid
    else:
        assert pickle.loads(pickle.dumps(rid)) == rid
    assert number not in repr(rid)
    assert number not in str(rid)


@given(st.text(alphabet="0123456789", min_size=6, max_size=22))
def test_refusals_never_echo_the_number(digits: str) -> None:
    try:
        parse_resident_id(digits, today=TODAY)
    except InvalidResidentId as exc:
        assert digits not in str(exc)
        assert digits not in repr(exc)
        again = pickle.loads(pickle.dumps(exc))
        assert (again.field, again.reason) == (exc.field, exc.reason)


# -- phones ---------------------------------------------------------------------------------

phone_like = st.text(
    alphabet=st.sampled_from(list("0123456789+-() .转分机extx#０１８６－（）\u3000")), max_size=30
)


@settings(max_examples=400)
@given(st.one_of(phone_like, st.text(max_size=30)), st.sampled_from([None, "0571", "010", "21"]))
def test_phone_parser_returns_a_normal_form_or_invalid_phone(text: str, area: str | None) -> None:
    try:
        phone = parse_phone(text, default_area_code=area)
    except InvalidPhone as exc:
        assert exc.field == "phone"
        assert not is_valid_phone(text, default_area_code=area)
        digits = "".join(c for c in text if c.isascii() and c.isdigit())
        if len(digits) >= 6:
            assert digits not in str(exc)
        return
    assert phone.kind in ("mobile", "landline")
    again = parse_phone(phone.number)
    assert (again.kind, again.number) == (phone.kind, phone.number)
    assert phone.e164.startswith("+86")
    assert phone.number not in repr(phone)


@given(
    st.from_regex(r"\A1[3-9][0-9]{9}\Z"),
    st.sampled_from(["", "+86 ", "0086", "86", "+86-"]),
    st.sampled_from(["", " ", "-"]),
    st.booleans(),
)
def test_a_mobile_number_survives_every_usual_spelling(
    mobile: str, prefix: str, sep: str, wide: bool
) -> None:
    text = prefix + sep.join([mobile[:3], mobile[3:7], mobile[7:]])
    if wide:
        text = text.translate(str.maketrans("0123456789+-", "０１２３４５６７８９＋－"))
    assert parse_phone(text).number == mobile


# -- names ----------------------------------------------------------------------------------

han = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
name_like = st.text(
    alphabet=st.one_of(han, st.sampled_from(list("·•. 　-'AbcＡ張陳劉歐陽1"))), max_size=12
)


@settings(max_examples=250)
@given(st.one_of(name_like, st.text(max_size=20)))
@example("歐陽　娜娜")
@example("买买提•艾力")
def test_name_normalisation_is_idempotent_or_invalid_name(text: str) -> None:
    try:
        name = normalize_name(text)
    except InvalidName as exc:
        assert exc.field == "name"
        assert exc.reason in {"empty", "characters", "length"}
        return
    assert normalize_name(name) == name
    assert 0 < len(name) <= MAX_NAME_LENGTH
    assert name == name.strip()
    assert to_halfwidth(name) == name
    assert not name.startswith(DOT)
    assert not name.endswith(DOT)
    key = pinyin_key(name)
    assert key == key.strip()
    assert "  " not in key
    assert initials_key(name) == "".join(s[0] for s in key.split())
    surname, given_name = split_surname(name)
    if DOT not in name and " " not in name:
        assert surname + given_name == name


@given(st.text(alphabet=han, min_size=2, max_size=4))
def test_traditional_and_simplified_spellings_normalise_alike(name: str) -> None:
    # 乾, 於 and 昇 are names of their own (乾隆, 於 the surname), never folded to 干/于/升.
    assume(_KEEP_IN_NAMES.isdisjoint(name))
    simplified = to_simplified(name)
    assert normalize_name(name) == normalize_name(simplified)
    assert pinyin_key(name) == pinyin_key(simplified)


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=51))
def test_an_absurdly_long_name_is_refused_by_length(name: str) -> None:
    try:
        normalize_name(name)
    except InvalidName as exc:
        assert exc.reason == "length"
    else:
        raise AssertionError("a name over the length limit was accepted")


# -- text helpers ---------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_fold_and_halfwidth_are_idempotent(text: str) -> None:
    assert to_halfwidth(to_halfwidth(text)) == to_halfwidth(text)
    folded = fold(text)
    assert fold(folded) == folded
    assert folded == folded.strip()


_CN_DIGITS = "零一二三四五六七八九"


def _cn(n: int) -> str:
    """A number below 10000 in unit notation, written the formal way (一千零五)."""
    if n == 0:
        return "零"
    out, zero = "", False
    for unit, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // unit % 10
        if d:
            if zero and out:
                out += "零"
            out += _CN_DIGITS[d] + name
            zero = False
        else:
            zero = True
    return out


@given(st.integers(min_value=0, max_value=9999))
def test_chinese_numerals_read_back_to_their_value(n: int) -> None:
    assert cn_numeral_to_int(_cn(n)) == n
    assert cn_numeral_to_int("".join(_CN_DIGITS[int(c)] for c in str(n))) == n


@given(st.text(alphabet=st.sampled_from(list("零一二三四五六七八九十百千万萬两〇a1")), max_size=8))
def test_chinese_numeral_reader_never_raises(text: str) -> None:
    value = cn_numeral_to_int(text)
    assert value is None or value >= 0
