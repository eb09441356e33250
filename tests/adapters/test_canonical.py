"""person_fields: the canonical person object every adapter stores, in its fixed key order."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.canonical import CANONICAL_PERSON_KEYS, person_fields
from adapters.contract import RecordRejected


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({}, id="nothing"),
        pytest.param(
            {
                "name": " 張偉 ",
                "id_number": "330106480412408",
                "phone": "１３８—１２３４—５６７８",
                "address": "杭州市西湖區文一西路481號3幢2單元302室",
                "registered_address": "浙江省杭州市西湖区文三路8号",
                "household_no": 120034,
                "relation": "户主",
                "tags": ["低保", "独居老人", "低保"],
                "status": "active",
                "facts": {"来源": "民政"},
            },
            id="everything",
        ),
        pytest.param(
            {"name": "李娜", "id_number": "33010619481204408X", "address": "？？", "phone": "12"},
            id="bad-values-kept",
        ),
    ],
)
def test_keys_come_in_canonical_order(kwargs: dict[str, Any]) -> None:
    assert tuple(person_fields(**kwargs)) == CANONICAL_PERSON_KEYS


def test_values_of_a_full_record() -> None:
    out = person_fields(
        name=" 張偉 ",
        id_number="330106480412408",
        gender="男",
        birth_date="1950-01-01",
        address="杭州市西湖區文一西路481號3幢2單元302室",
        registered_address="浙江省杭州市西湖区文三路8号",
        household_no=120034,
        tags=("独居老人", "低保", "低保"),
    )
    assert out["name"] == "张伟"
    assert out["resident_id"] == "330106194804124083"
    assert (out["birth_date"], out["gender"]) == ("1948-04-12", "F")  # the ID wins
    assert out["address_parts"]["road"] == "文一西路"
    assert out["address_parts"]["room"] == "302"
    assert out["registered_address"] == "浙江省杭州市西湖区文三路8号"
    assert out["household_no"] == "120034"
    assert out["tags"] == ["低保", "独居老人"]
    assert out["facts"] == {}


def test_source_birth_date_and_gender_fill_in_without_an_id() -> None:
    out = person_fields(name="王芳", birth_date="19800102", gender="女")
    assert (out["birth_date"], out["gender"]) == ("1980-01-02", "F")
    assert person_fields(name="王芳")["gender"] == "U"


def test_invalid_address_kept_raw_unless_strict() -> None:
    out = person_fields(name="王芳", address=" ？？ ", registered_address="！！")
    assert (out["address"], out["address_parts"], out["registered_address"]) == (
        "？？",
        None,
        "！！",
    )
    with pytest.raises(RecordRejected):
        person_fields(name="王芳", registered_address="！！", strict=("registered_address",))
    with pytest.raises(RecordRejected):
        person_fields(name="王芳", address="！！", strict=("address",))
