"""Invalid resident IDs of every kind (GB 11643), each fed to the parsers that meet it.

The value type names the rule broken; the 户籍 mapper, where the ID is the record's key,
quarantines with that reason (after removing the spaces a register clerk may type); the
民政 mapper keeps the raw number beside its issue, because a mistyped ID is still evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from adapters.civil_affairs.mapping import map_dibao
from adapters.contract import Extracted, RecordRejected
from adapters.hukou.mapping import map_person
from canonical_model.values import InvalidResidentId, parse_resident_id
from tests.corpus.corpus import of_kind


@dataclass(frozen=True)
class Case:
    text: str
    reason: str  # the value type's reason, or "ok"
    hukou: str  # the hukou mapping's outcome: "ok" or a quarantine reason code
    what: str


def _cases() -> list[Case]:
    (entry,) = of_kind("resident_id")
    lines = entry.read().decode("utf-8").splitlines()
    return [Case(*line.split("\t")) for line in lines if line and not line.startswith("#")]


CASES = [pytest.param(c, id=c.what) for c in _cases()]


def test_the_corpus_covers_every_refusal_reason() -> None:
    reasons = {c.reason for c in _cases()}
    assert reasons >= {"ok", "check_digit", "characters", "length", "region", "birth_date"}


@pytest.mark.parametrize("case", CASES)
def test_the_value_type_names_the_rule_broken(case: Case) -> None:
    if case.reason == "ok":
        rid = parse_resident_id(case.text)
        assert len(rid.number) == 18
        assert rid.number.isascii()
        return
    with pytest.raises(InvalidResidentId) as caught:
        parse_resident_id(case.text)
    assert caught.value.reason == case.reason
    assert case.text.strip() not in str(caught.value)


def _registration(id_number: str) -> dict[str, str]:
    return {"idNumber": id_number, "name": "测试居民", "gender": "女", "status": "正常",
            "registeredAddress": "浙江省杭州市西湖区文三路259号", "householdNo": "1"}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_the_household_register_quarantines_a_bad_key(case: Case) -> None:
    item = Extracted(raw=_registration(case.text), cursor={})
    if case.hukou == "ok":
        mapped = map_person(item)
        assert (
            parse_resident_id(mapped.canonical["resident_id"]).number
            == mapped.canonical["resident_id"]
        )
        return
    with pytest.raises(RecordRejected) as caught:
        map_person(item)
    assert caught.value.reason_code == case.hukou
    assert case.text.strip() not in caught.value.reason


@pytest.mark.parametrize("case", CASES)
def test_civil_affairs_keeps_a_bad_id_raw_with_its_issue(case: Case) -> None:
    row = {"id": 1, "case_no": "DB-CORPUS-1", "name": "测试居民", "id_number": case.text,
           "address": "浙江省杭州市西湖区文三路259号", "status": "在册"}  # fmt: skip
    mapped = map_dibao(Extracted(raw=row, cursor={}, source_key="DB-CORPUS-1"))
    if case.reason == "ok":
        assert mapped.canonical["resident_id"] is not None
        assert mapped.canonical["resident_id_issue"] is None
    else:
        assert mapped.canonical["resident_id"] is None
        assert mapped.canonical["resident_id_issue"] == case.reason
        assert mapped.canonical["resident_id_raw"] == case.text.strip()
