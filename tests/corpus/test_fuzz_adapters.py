# ruff: noqa: PT017  (a property is "a result or this typed error": the except branch asserts)
"""Property-based fuzzing of the adapters' mapping functions: anything in, a record or a
typed rejection out.

A mapping function meets whatever a department system sends. The engine quarantines a
``RecordRejected`` and goes on; any other exception would end the sync for every record
behind it. So for arbitrary field values each mapper must either produce canonical fields
the store can hold (JSON, the fixed keys, a resident ID only when it is valid) or raise
``RecordRejected`` with a stable code and a reason free of the values it refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.canonical import CANONICAL_PERSON_KEYS, person_fields
from adapters.civil_affairs.mapping import MAPPERS
from adapters.contract import Extracted, Mapped, RecordRejected
from adapters.health.parallel import map_resource
from adapters.hotline import HotlineConfig
from adapters.hotline.client import HotlineClient
from adapters.hotline.mapping import map_work_order
from adapters.hotline.streams import WorkOrdersStream
from adapters.hukou.client import PERSON_FIELDS
from adapters.hukou.mapping import map_person
from adapters.utility.mapping import map_record
from canonical_model.values import is_valid_resident_id
from tests.corpus.corpus import valid_id

REASON_CODE = re.compile(r"\A[a-z_0-9]+(\.[a-z_0-9]+)+\Z")

_IDS = [valid_id(), valid_id()[:17] + "0", "11010519491231002x", "110105491231002", "１１０１"]
_WORDS = ["张伟", "歐陽娜娜", "买买提•艾力", "13812345678", "0571-88776655", "正常", "迁出", "男",
          "女", "2024-03-05", "20240305", "1980/1/1", "浙江省杭州市西湖区文三路259号3幢2单元302室",
          "在册", "停发", "一级", "800.50", "--", "", " ", "'; DROP TABLE person; --"]  # fmt: skip
PERSONAL = [*_IDS[:3], "张伟", "歐陽娜娜", "13812345678", "0571-88776655", _WORDS[12]]
wire_text = st.one_of(st.sampled_from(_IDS + _WORDS), st.text(max_size=24))
wire_values = st.one_of(
    st.none(),
    wire_text,
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.dates(),
    st.lists(wire_text, max_size=2),
    st.dictionaries(st.sampled_from(["a", "issue", "detail"]), wire_text, max_size=2),
)


def _rows(keys: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """Records with the source's own field names (some missing) plus the odd stranger."""
    known = st.fixed_dictionaries({}, optional=dict.fromkeys(keys, wire_values))
    extra = st.dictionaries(st.text(max_size=6), wire_values, max_size=2)
    return st.builds(lambda a, b: {**b, **a}, known, extra)


def _json_default(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} in canonical fields")


def _check_outcome(call: Callable[[], Any], raw: Any) -> Any:
    """Run one mapping; the outcome must be a usable record or a clean rejection."""
    try:
        out = call()
    except RecordRejected as exc:
        assert REASON_CODE.fullmatch(exc.reason_code), exc.reason_code
        assert exc.reason
        for value in PERSONAL:  # reasons go to logs and the exchange log: no personal data
            assert value not in exc.reason, exc.reason_code
        return None
    canonical = out.canonical if isinstance(out, Mapped) else out
    assert tuple(canonical) == CANONICAL_PERSON_KEYS
    json.dumps(canonical, default=_json_default, allow_nan=False)  # storable as JSON
    if canonical["resident_id"] is not None:
        assert is_valid_resident_id(canonical["resident_id"])
    if isinstance(out, Mapped):
        assert isinstance(out.source_key, str)
        assert out.source_key
    return out


@settings(max_examples=200)
@given(_rows(PERSON_FIELDS))
def test_hukou_person_mapping(raw: dict[str, Any]) -> None:
    out = _check_outcome(lambda: map_person(Extracted(raw=raw, cursor={})), raw)
    if out is not None:  # the register is keyed by a valid ID or nothing
        assert out.canonical["resident_id"] is not None


_ORDER_KEYS = ("order_no", "caller_name", "caller_phone", "caller_id_number", "content",
               "address", "category", "category_name", "urgency", "channel", "called_at",
               "dispatched_at", "deadline")  # fmt: skip
_STREAM = WorkOrdersStream(HotlineClient(HotlineConfig()))  # map() never touches the broker


@st.composite
def work_orders(draw: st.DrawFn) -> dict[str, Any]:
    """A valid order with some fields replaced by arbitrary wire values."""
    order: dict[str, Any] = {
        "order_no": "GD2026030100001",
        "caller_name": "张伟",
        "caller_phone": "13812345678",
        "content": "楼道灯坏了",
        "address": "文三路259号",
        "category": "facility",
        "urgency": "一般",
        "channel": "phone",
        "dispatched_at": "2026-03-01T09:00:00+08:00",
        "deadline": "2026-03-03T09:00:00+08:00",
    }
    for key in draw(st.lists(st.sampled_from(_ORDER_KEYS), max_size=3)):
        order[key] = draw(wire_values)
    return order


@settings(max_examples=200)
@given(st.one_of(work_orders(), _rows(_ORDER_KEYS)))
def test_hotline_work_order_mapping(raw: dict[str, Any]) -> None:
    _check_outcome(lambda: map_work_order(raw), raw)


@settings(max_examples=200)
@given(
    st.one_of(
        st.binary(max_size=64),
        work_orders().map(lambda o: json.dumps(o, ensure_ascii=False, default=str).encode()),
        st.text(max_size=40).map(lambda t: t.encode("utf-8")),
    ),
    st.one_of(st.none(), st.binary(max_size=8)),
)
def test_hotline_kafka_message_bytes(value: bytes, key: bytes | None) -> None:
    item = Extracted(raw=value, cursor={"0": 1}, source_key=key.decode("latin-1") if key else None)
    _check_outcome(lambda: _STREAM.map(item), {})


_CA_KEYS = ("id", "case_no", "name", "id_number", "gender", "birth_date", "phone", "address",
            "relation", "household_no", "member_count", "monthly_amount", "approval_date",
            "status", "support_mode", "care_level", "age_band", "start_date",
            "disability_category", "disability_grade", "subsidy", "issue_date", "death_date",
            "death_place", "registered_on")  # fmt: skip


# What the ODBC stream hands over: text, integers, booleans, NULL, undecodable bytes as hex.
_odbc_values = st.one_of(
    st.none(), wire_text, st.integers(-(10**12), 10**12), st.booleans(),
    st.binary(max_size=6).map(lambda b: {"hex": b.hex()}),
)  # fmt: skip


@settings(max_examples=250)
@given(
    st.sampled_from(sorted(MAPPERS)),
    st.fixed_dictionaries({}, optional=dict.fromkeys(_CA_KEYS, _odbc_values)),
    st.one_of(st.none(), wire_text),
)
def test_civil_affairs_row_mapping(stream: str, raw: dict[str, Any], key: str | None) -> None:
    item = Extracted(raw=raw, cursor={}, source_key=(key or None))
    _check_outcome(lambda: MAPPERS[stream](item), raw)


@st.composite
def fhir_resources(draw: st.DrawFn) -> Any:
    rtype = draw(st.sampled_from(["Patient", "Encounter", "Observation", "Bundle", None]))
    resource: dict[str, Any] = {
        "resourceType": rtype,
        "id": draw(st.sampled_from(["p1", "", None])),
    }
    if draw(st.booleans()):
        resource["name"] = draw(
            st.one_of(
                st.lists(st.fixed_dictionaries({}, optional={"text": wire_values,
                         "family": wire_values, "given": st.lists(wire_text, max_size=2),
                         "use": st.sampled_from(["official", "old", "usual"])}), max_size=2),
                wire_values,
            )
        )  # fmt: skip
    if draw(st.booleans()):
        resource["identifier"] = [
            {"system": "urn:oid:2.16.840.1.113883.2.23.1.1.1", "value": draw(wire_values)}
        ]
    for field in ("birthDate", "gender", "status", "deceasedBoolean", "effectiveDateTime"):
        if draw(st.booleans()):
            resource[field] = draw(wire_values)
    if draw(st.booleans()):
        telecom = st.fixed_dictionaries(
            {"system": st.sampled_from(["phone", "email"]), "value": wire_values}
        )
        resource["telecom"] = draw(st.lists(telecom, max_size=2))
    if draw(st.booleans()):
        resource["valueQuantity"] = {"value": draw(wire_values), "unit": "mmHg"}
    return draw(st.one_of(st.just(resource), wire_values))


@settings(max_examples=150)
@given(fhir_resources(), st.sampled_from(["Patient", "Encounter", "Observation"]))
def test_health_fhir_resource_mapping(resource: Any, expected: str) -> None:
    systems = ["urn:oid:2.16.840.1.113883.2.23.1.1.1"]
    _check_outcome(lambda: map_resource(resource, expected, systems), resource)


@settings(max_examples=200)
@given(
    st.one_of(
        # account_payload builds these from parsed file rows: always text (phone may be None)
        st.fixed_dictionaries(
            {"kind": st.sampled_from(["water", "power", "gas"]), "account": wire_text},
            optional={k: wire_text for k in ("holder", "address", "meter_no")}
            | {"phone": st.one_of(st.none(), wire_text)},
        ),
        st.fixed_dictionaries({"problem": st.fixed_dictionaries(
            {"code": st.sampled_from(["file.encoding", "reading.date"]),
             "reason": st.text(min_size=1, max_size=20)})}),
    )
)  # fmt: skip
def test_utility_account_mapping(raw: dict[str, Any]) -> None:
    _check_outcome(lambda: map_record(Extracted(raw=raw, cursor={}, source_key="k")), raw)


@settings(max_examples=200)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            k: wire_values
            for k in (
                "name",
                "id_number",
                "birth_date",
                "gender",
                "phone",
                "address",
                "registered_address",
                "household_no",
                "relation",
            )
        },
    ),
    st.sets(st.sampled_from(["name", "resident_id", "phone", "address"])),
)
def test_person_fields_with_any_strictness(fields: dict[str, Any], strict: set[str]) -> None:
    _check_outcome(lambda: person_fields(**fields, strict=strict), fields)
