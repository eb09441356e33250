# ruff: noqa: PT017  (a property is "a result or this typed error": the except branch asserts)
"""Property-based fuzzing of address parsing and the resolution engine's normaliser steps.

Address text is the least regular field the hub receives, and every matching key is built
from these steps over whatever a source sent: a step must give a key or ``None`` for any
value, never raise, and the address normal form must read back as itself.
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from canonical_model.values import AddressParts, InvalidAddress, normalize_address, parse_address
from resolution import cn_normalisers
from resolution.normalisers import make_step, run_steps, step_names

_ADDRESS_WORDS = [
    "浙江省", "杭州市", "西湖区", "上海市", "黄浦区", "翠苑街道", "文三路", "文一西路", "弄",
    "号", "栋", "幢", "单元", "室", "小区", "花园", "社区", "村", "#", "-", "之", "一", "二",
    "三", "十", "百", "〇", "3", "12", "302", "Ａ", "（", "）", " ", "　", "北京市", "朝阳区",
    "路", "街", "大厦", "楼", "層", "臺灣", "區",
]  # fmt: skip
address_like = st.lists(st.sampled_from(_ADDRESS_WORDS), max_size=14).map("".join)


@settings(max_examples=200)
@given(st.one_of(address_like, st.text(max_size=40)))
@example("浙江省杭州市西湖区翠苑街道文三路259号3幢2单元302室")
@example("上海市黄浦区南京东路100弄3-2-302")
def test_address_parsing_gives_parts_or_invalid_address(text: str) -> None:
    try:
        parts = parse_address(text)
    except InvalidAddress as exc:
        assert exc.field == "address"
        return
    assert isinstance(parts, AddressParts)
    normal = parts.normalized
    assert normalize_address(text) == normal
    assert len(parts.key()) == 7


_PLACES = [
    ("浙江省", "杭州市", "西湖区", "翠苑街道"),
    ("浙江省", "杭州市", "拱墅区", "米市巷街道"),
    ("上海市", "上海市", "黄浦区", "南京东路街道"),
    ("北京市", "北京市", "朝阳区", "呼家楼街道"),
    ("广东省", "深圳市", "南山区", "粤海街道"),
]
_ROADS = ["文三路", "文一西路", "南京东路", "教工路", "学院路", "科技园路"]
_WIDE = str.maketrans("0123456789-#", "０１２３４５６７８９－＃")


@st.composite
def written_addresses(draw: st.DrawFn) -> tuple[str, str]:
    """An address as a register writes it, and the same dwelling as a clerk might type it."""
    province, city, district, street = draw(st.sampled_from(_PLACES))
    road = draw(st.sampled_from(_ROADS))
    number, building, unit = (draw(st.integers(1, 999)), draw(st.integers(1, 40)),
                              draw(st.integers(1, 9)))  # fmt: skip
    room = draw(st.integers(1, 30)) * 100 + draw(st.integers(1, 12))
    head = "" if province == city else province
    full = f"{head}{city}{district}{street}{road}{number}号{building}栋{unit}单元{room}室"
    style = draw(st.sampled_from(["wide", "dash", "hash", "幢", "space"]))
    if style == "wide":
        typed = full.translate(_WIDE)
    elif style == "dash":
        typed = f"{head}{city}{district}{street}{road}{number}号{building}-{unit}-{room}"
    elif style == "hash":
        typed = f"{head}{city}{district}{street}{road}{number}号{building}#{unit}单元{room}室"
    elif style == "幢":
        typed = full.replace("栋", "幢")
    else:
        typed = f" {full} "
    return full, typed


@settings(max_examples=150)
@given(written_addresses())
def test_an_address_normal_form_reads_back_as_itself_whatever_the_spelling(
    pair: tuple[str, str],
) -> None:
    full, typed = pair
    normal = normalize_address(full)
    assert normalize_address(normal) == normal
    assert parse_address(typed).key() == parse_address(full).key()
    assert normalize_address(typed) == normal


values = st.one_of(
    st.none(),
    st.text(max_size=30),
    address_like,
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.binary(max_size=10),
)
# Every step a profile may name; steps with an argument get a valid one.
_ARGS = {"prefix": "4", "suffix": "4", "min_length": "2", "null_values": "无|null|-"}
_PARTS_ARGS = ["anchor,number?,building,room", "area,anchor", "road,lane?,number", "room?"]
STEPS = sorted(
    [n for n in step_names() if n not in _ARGS and n not in cn_normalisers.WITH_ARG]
    + [f"{n}:{a}" for n, a in _ARGS.items()]
    + [f"parts:{a}" for a in _PARTS_ARGS]
)


@settings(max_examples=200)
@given(st.sampled_from(STEPS), values)
def test_every_normaliser_step_gives_a_key_or_none(spec: str, value: Any) -> None:
    step = make_step(spec)
    out = step(value)
    passes_through = spec.startswith(("min_length", "null_values"))
    assert out is None or isinstance(out, str | AddressParts) or (passes_through and out is value)


@settings(max_examples=200)
@given(st.lists(st.sampled_from(STEPS), min_size=1, max_size=4), values)
def test_chains_of_steps_never_raise(specs: list[str], value: Any) -> None:
    run_steps(value, [make_step(s) for s in specs])


@given(st.text(max_size=30))
def test_resident_id_steps_agree(text: str) -> None:
    lenient = make_step("resident_id")(text)
    strict = make_step("resident_id_valid")(text)
    if strict is not None:
        assert lenient == strict
        assert len(strict) == 18
    if lenient is not None:
        assert 15 <= len(lenient) <= 18
