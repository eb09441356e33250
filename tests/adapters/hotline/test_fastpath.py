"""The hand-checked fast path maps an order exactly as the pydantic schema path does, or defers.

Stored payloads, canonical fields and content hashes must not depend on which path mapped an
order, and every quarantine reason stays the schema's: so whatever ``_fast`` accepts, the
schema accepts with an equal record, and what the schema refuses ``_fast`` never accepts.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, TypeAdapter

from adapters.contract import Extracted, RecordRejected
from adapters.engine import canonical_json
from adapters.hotline.fastpath import _STAMP_FORM, _WHITE_SPACE, _fast, _stamp, map_decoded
from adapters.hotline.mapping import ShortText, map_work_order
from adapters.hotline.streams import WorkOrdersStream
from tests.adapters.hotline.helpers import make_orders

_SCHEMA_TEXT = TypeAdapter(ShortText)
_SCHEMA_TIME = TypeAdapter(AwareDatetime)

_ORDER: dict[str, Any] = {
    "order_no": "GD2026030100001",
    "caller_name": "张伟",
    "caller_phone": "13812345678",
    "content": "楼道灯坏了",
    "address": "浙江省杭州市西湖区文三路259号3幢2单元302室",
    "category": "municipal",
    "category_name": "市政设施",
    "urgency": "一般",
    "channel": "电话",
    "called_at": "2026-03-01T08:50:00+08:00",
    "dispatched_at": "2026-03-01T09:00:00+08:00",
    "deadline": "2026-03-03T09:00:00+08:00",
}


def _same_as_schema(raw: dict[str, Any]) -> bool:
    """True when the fast path took ``raw``; fails if it took it differently from the schema."""
    fast = _fast(raw)
    try:
        slow = map_work_order(raw)
    except RecordRejected:
        assert fast is None
        return False
    if fast is None:
        return False
    assert fast == slow
    assert canonical_json(fast.canonical) == canonical_json(slow.canonical)
    assert tuple(fast.canonical) == tuple(slow.canonical)
    return True


def test_the_simulators_orders_all_take_the_fast_path_with_the_schemas_record() -> None:
    orders = make_orders(2000)
    taken = 0
    for order in orders:
        raw = msgspec.json.decode(json.dumps(order.message(), ensure_ascii=False).encode())
        taken += _same_as_schema(raw)
    # Padded names and phones (the simulator's noise) included: stripped as the schema does.
    assert taken == len(orders)


def test_only_what_pydantic_strips_is_stripped_for_every_code_point() -> None:
    stripped = []
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:  # msgspec never decodes a lone surrogate
            continue
        c = chr(code)
        if _SCHEMA_TEXT.validate_python(f"{c}a{c}") == "a":
            stripped.append(c)
    assert "".join(stripped) == _WHITE_SPACE


@pytest.mark.parametrize("minutes", range(-24 * 60 + 1, 24 * 60, 7))
def test_every_offset_parses_to_the_schemas_time(minutes: int) -> None:
    sign = "-" if minutes < 0 else "+"
    text = f"2024-02-29T23:59:59.123456{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    fast = _stamp(text)
    assert fast is not None
    slow = _SCHEMA_TIME.validate_python(text)
    assert fast == slow
    assert fast.utcoffset() == slow.utcoffset()


@settings(max_examples=500, deadline=None)
@given(st.from_regex(_STAMP_FORM, fullmatch=True))
def test_a_timestamp_the_fast_path_takes_is_the_same_time_to_the_schema(text: str) -> None:
    fast = _stamp(text)
    if fast is None:  # a day the month does not have: the schema's to refuse
        return
    slow = _SCHEMA_TIME.validate_python(text)
    assert (fast, fast.utcoffset()) == (slow, slow.utcoffset())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("order_no", "GD２026030100001"),  # full-width digit: the schema's \d takes it
        ("order_no", "GD2026030100001\n"),
        ("category", "Municipal"),
        ("urgency", "一般 "),
        ("content", "\u3000"),  # empty once stripped
        ("content", "x" * 4001),
        ("caller_name", "\x1c张伟\x1f"),  # str.isspace, not White_Space: kept by both
        ("caller_name", " " + "名" * 200 + "\u3000"),  # 200 once stripped
        ("caller_name", "名" * 201),
        ("caller_phone", 13812345678),
        ("channel", None),
        ("called_at", None),
        ("called_at", "2026-03-01 08:50:00+08:00"),
        ("dispatched_at", "2026-03-01T09:00:00"),  # no zone
        ("dispatched_at", "2026-03-01T09:00:00.1234567+08:00"),
        ("dispatched_at", "2026-03-01T09:00:00z"),
        ("dispatched_at", "2026-03-01T09:00:00+08:60"),
        ("dispatched_at", "2023-02-29T09:00:00+08:00"),
        ("dispatched_at", 1772326800),
        ("deadline", "2026-03-01T09:00:00+08:00"),  # not after dispatch
        ("deadline", "9999-12-31T23:59:59-08:00"),  # UTC cannot hold it
        ("extra", "x"),
        ("order_no", None),
    ],
)
def test_an_unusual_field_maps_as_the_schema_maps_it(field: str, value: Any) -> None:
    raw = {**_ORDER, field: value}
    try:
        expected: Any = map_work_order(raw)
    except Exception as exc:  # the outcome compared is the exception itself
        expected = (type(exc), getattr(exc, "reason_code", None), str(exc))
    try:
        got: Any = map_decoded(raw)
    except Exception as exc:
        got = (type(exc), getattr(exc, "reason_code", None), str(exc))
    assert got == expected


def test_a_missing_required_field_is_the_schemas_rejection() -> None:
    raw = {k: v for k, v in _ORDER.items() if k != "channel"}
    assert _fast(raw) is None
    with pytest.raises(RecordRejected) as refused:
        map_decoded(raw)
    assert refused.value.reason_code == "schema.missing_field"


def test_a_parsed_mapping_from_elsewhere_goes_to_the_schema_alone() -> None:
    """Not decoded by msgspec, it may hold a lone surrogate, which only the schema refuses."""
    stream = WorkOrdersStream(client=None)  # type: ignore[arg-type]  # map() needs no broker
    with pytest.raises(RecordRejected) as refused:
        stream.map(Extracted(raw={**_ORDER, "caller_name": "\ud800"}, cursor={}))
    assert refused.value.reason_code == "schema.invalid"


_values = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["一般", "紧急", "GD20260301000099", "water", " 张伟\u3000", "\u00a0"]),
    st.integers(),
    st.booleans(),
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from([*_ORDER, "extra"]), _values, max_size=4))
def test_any_order_maps_as_the_schema_maps_it(changes: dict[str, Any]) -> None:
    raw = msgspec.json.decode(json.dumps({**_ORDER, **changes}, ensure_ascii=False).encode())
    _same_as_schema(raw)
