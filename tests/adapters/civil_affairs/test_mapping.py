"""Row → canonical, table by table: what is kept, what is tagged, what is quarantined."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.civil_affairs.mapping import MAPPERS
from adapters.contract import Extracted, RecordRejected

VALID_ID = "330106194812044083"


def row(**values: Any) -> Extracted:
    raw = {
        "id": 7,
        "case_no": "MZ00000000701",
        "name": "林敏",
        "id_number": VALID_ID,
        "gender": "2",
        "birth_date": "1948-12-04",
        "phone": "13800001111",
        "address": "杭州市西湖区文一西路481号1幢1单元202室",
        "status": "在册",
    } | values
    return Extracted(raw=raw, cursor={}, source_key=raw["case_no"])


def test_dibao_row_is_tagged_while_active_with_amount_and_household() -> None:
    mapped = MAPPERS["dibao"](
        row(household_no="DB0010010010002", relation="户主", member_count="2",
            monthly_amount="1620", approval_date="2021/3/5")
    )  # fmt: skip
    c = mapped.canonical
    assert mapped.source_key == "MZ00000000701"
    assert c["resident_id"] == VALID_ID
    assert c["tags"] == ["dibao"]
    assert c["relation"] == "户主"
    assert c["status"] is None  # a benefit says nothing about being alive
    assert c["facts"] == {
        "program": "dibao",
        "source_row_id": 7,
        "benefit_status": "active",
        "status_text": "在册",
        "dibao_household_no": "DB0010010010002",
        "member_count": 2,
        "monthly_amount": "1620.00",
        "approval_date": "2021-03-05",
    }


@pytest.mark.parametrize(
    ("status", "tags", "benefit"),
    [("在册", ["tekun"], "active"), ("停发", [], "suspended"), ("终止", [], "terminated"),
     ("其他", [], None)],
)  # fmt: skip
def test_stopped_benefits_are_history_not_tags(
    status: str, tags: list[str], benefit: str | None
) -> None:
    c = MAPPERS["tekun"](row(status=status, support_mode="分散供养")).canonical
    assert c["tags"] == tags
    assert c["facts"]["benefit_status"] == benefit
    assert c["facts"]["status_text"] == status


def test_age_and_disability_tags_do_not_depend_on_the_allowance() -> None:
    aged = MAPPERS["elderly_allowance"](row(status="停发", monthly_amount=100.0)).canonical
    assert aged["tags"] == ["aged_80_plus"]
    assert aged["facts"]["monthly_amount"] == "100.00"
    disabled = MAPPERS["disability"](
        row(status="停发", disability_category="肢体", disability_grade="二级")
    ).canonical
    assert disabled["tags"] == ["disabled"]
    assert disabled["facts"]["disability_grade"] == 2


def test_a_death_registration_makes_the_person_deceased() -> None:
    c = MAPPERS["deaths"](
        row(status="已故", death_date="20240302", registered_on="2024-03-09", death_place="医院")
    ).canonical
    assert c["status"] == "deceased"
    assert c["tags"] == ["deceased"]
    assert (c["facts"]["death_date"], c["facts"]["registered_on"]) == ("2024-03-02", "2024-03-09")


@pytest.mark.parametrize(
    ("id_number", "birth_date", "expected"),
    [
        ("330106194812044084", "1948.12.4", "1948-12-04"),  # the row's, read as clerks write
        ("330106194812044084", "19481204", "1948-12-04"),
        ("330106194812044084", "1948年12月", None),  # not a date: none rather than a guess
        (VALID_ID, "1950-01-01", "1948-12-04"),  # a valid ID's birth date wins over the row's
    ],
)
def test_birth_date_comes_from_the_id_else_from_the_row(
    id_number: str, birth_date: str, expected: str | None
) -> None:
    c = MAPPERS["tekun"](row(id_number=id_number, birth_date=birth_date)).canonical
    assert c["birth_date"] == expected


@pytest.mark.parametrize(
    ("id_number", "issue"),
    [("330106194812044084", "check_digit"), ("330106194813044083", "birth_date"),
     ("3301061948120440", "length")],
)  # fmt: skip
def test_an_invalid_resident_id_is_kept_raw_with_its_issue(id_number: str, issue: str) -> None:
    c = MAPPERS["dibao"](row(id_number=id_number)).canonical
    assert c["resident_id"] is None
    assert c["resident_id_raw"] == id_number
    assert c["resident_id_issue"] == issue
    assert c["birth_date"] == "1948-12-04"  # from the row, since the ID cannot give it
    assert c["gender"] == "F"


def test_a_legacy_15_digit_id_is_upgraded() -> None:
    c = MAPPERS["disability"](row(id_number="330106481204408")).canonical
    assert c["resident_id"] == VALID_ID


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"name": None, "id_number": "33010619"}, id="no-name-bad-id"),
        pytest.param({"name": None, "id_number": None}, id="nothing"),
        pytest.param(
            {"name": "钱多多", "id_number": None, "birth_date": None, "phone": None,
             "address": None}, id="name-alone",
        ),
    ],
)  # fmt: skip
def test_rows_nobody_could_be_found_by_are_quarantined(values: dict[str, Any]) -> None:
    with pytest.raises(RecordRejected) as caught:
        MAPPERS["dibao"](row(**values))
    assert caught.value.reason_code == "identity.insufficient"
    assert caught.value.source_key == "MZ00000000701"


def test_a_name_with_one_more_field_is_enough() -> None:
    c = MAPPERS["dibao"](row(id_number="33010619", phone=None, address=None)).canonical
    assert c["name"] == "林敏"
    assert c["resident_id_issue"] == "length"


def test_a_row_without_a_case_number_is_quarantined_under_its_row_id() -> None:
    item = row(case_no=None)
    with pytest.raises(RecordRejected) as caught:
        MAPPERS["deaths"](Extracted(raw=item.raw, cursor={}, source_key=None))
    assert caught.value.reason_code == "schema.missing_key"
    assert caught.value.source_key == "id:7"


def test_undecodable_text_is_quarantined_naming_the_column_only() -> None:
    bad = {"hex": "d5c5c8", "issue": "invalid", "detail": "byte 3 of 3 is not valid gb18030"}
    with pytest.raises(RecordRejected) as caught:
        MAPPERS["dibao"](row(name=bad))
    assert caught.value.reason_code == "encoding.invalid"
    assert caught.value.reason == "column name: byte 3 of 3 is not valid gb18030"


def test_traditional_and_fullwidth_spellings_reach_canonical_form() -> None:
    fullwidth_id = "３３０１０６１９４８１２０４４０８３"
    traditional = "杭州市西湖區文一西路481號1幢1單元202室"
    c = MAPPERS["dibao"](row(id_number=fullwidth_id, address=traditional)).canonical
    assert c["resident_id"] == VALID_ID
    assert c["address"] == "杭州市西湖区文一西路481号1栋1单元202室"
