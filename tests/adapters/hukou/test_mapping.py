"""户籍 person → canonical fields: the ID is the key, so a bad one is quarantined."""

from __future__ import annotations

import pytest

from adapters.contract import Extracted, RecordRejected
from adapters.hukou.mapping import map_person
from canonical_model.values import upgrade_legacy
from tests.adapters.hukou.helpers import person, valid_id, wrong_check_digit


def extracted(raw: dict[str, str | None]) -> Extracted:
    key = (raw.get("idNumber") or "").strip() or None
    return Extracted(raw=raw, cursor={}, source_key=key)


def test_a_registration_maps_to_canonical_fields() -> None:
    rid = valid_id(born="19520317", seq=12)
    raw = person(rid, name="欧阳 娜娜", ethnicity="畲族", relationToHead="配偶")
    m = map_person(extracted(raw))
    c = m.canonical
    assert m.source_key == rid
    assert m.payload == raw  # stored as received
    assert c["resident_id"] == rid
    assert c["birth_date"] == "1952-03-17"  # from the ID, which wins over the field
    assert c["status"] == "active"
    assert c["tags"] == []
    assert c["household_no"] == "3301060010010010001"
    assert c["relation"] == "配偶"
    assert c["facts"] == {
        "ethnicity": "畲族",
        "relation_to_head": "配偶",
        "household_no": "3301060010010010001",
    }
    assert c["registered_address"]
    assert c["registered_address"].startswith("浙江省杭州市西湖区")
    assert c["address"] is None  # the register knows where one is registered, not where one lives


@pytest.mark.parametrize(
    ("status", "canonical", "tags"),
    [
        pytest.param("正常", "active", [], id="normal"),
        pytest.param("迁出", "moved_out", ["moved_out"], id="moved-out"),
        pytest.param("死亡", "deceased", ["deceased"], id="deceased"),
        pytest.param("死亡注销", "deceased", ["deceased"], id="deregistered-deceased"),
    ],
)
def test_status_and_its_tags(status: str, canonical: str, tags: list[str]) -> None:
    c = map_person(extracted(person(valid_id(), status=status))).canonical
    assert (c["status"], c["tags"]) == (canonical, tags)


def test_a_legacy_fifteen_digit_number_is_upgraded_but_keeps_its_source_key() -> None:
    legacy = valid_id(born="19650704", seq=33)[:6] + "650704033"
    m = map_person(extracted(person(legacy)))
    assert m.source_key == legacy
    assert m.canonical["resident_id"] == upgrade_legacy(legacy)


def test_whitespace_inside_the_number_is_not_an_error() -> None:
    rid = valid_id(seq=5)
    m = map_person(extracted(person(f" {rid[:6]} {rid[6:]}")))
    assert m.canonical["resident_id"] == rid


@pytest.mark.parametrize(
    ("id_number", "status", "code"),
    [
        pytest.param(
            wrong_check_digit(valid_id()), "正常", "resident_id.check_digit", id="check-digit"
        ),
        pytest.param("3301061980010100", "正常", "resident_id.length", id="length"),
        pytest.param("   ", "正常", "resident_id.empty", id="empty"),
        pytest.param(valid_id(), "失踪", "status.unknown", id="unknown-status"),
    ],
)
def test_records_that_cannot_be_stored_are_rejected_with_a_reason_code(
    id_number: str, status: str, code: str
) -> None:
    with pytest.raises(RecordRejected) as caught:
        map_person(extracted(person(id_number, status=status)))
    assert caught.value.reason_code == code
    assert id_number.strip() not in caught.value.reason or not id_number.strip()


def test_unparseable_bytes_are_rejected() -> None:
    with pytest.raises(RecordRejected) as caught:
        map_person(Extracted(raw=b"<person>", cursor={}))
    assert caught.value.reason_code == "schema.unparseable"
