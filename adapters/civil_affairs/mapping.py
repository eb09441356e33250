"""A 民政 row → canonical person fields, one mapper per table.

Civil affairs is not the authority on identity, and its clerks mistype ID numbers (about 3 %
of rows). A mistyped ID is still evidence — with the name, birth date and address the
resolution engine can place the record — so it is kept raw with its issue
(``resident_id_issue``), not rejected. A row is quarantined only when nothing could place
it: no valid ID and no name with a second identifying field (``identity.insufficient``),
when it has no case number to be stored under (``schema.missing_key``), or when its text is
not in the database's encoding (``encoding.invalid`` / ``encoding.mismatch``: storing
mojibake would poison matching).

Benefit tags follow the benefit's status: a 低保 or 特困 case that is stopped (停发) is
history, not a current tag. Being 80 or over and being disabled are facts about the person,
so those tags stay whatever the allowance's status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.canonical import person_fields
from adapters.contract import Extracted, Mapped, RecordRejected

__all__ = ["BENEFIT_STATUS", "MAPPERS", "map_row"]

#: 保障状态 as clerks write it → the canonical benefit status.
BENEFIT_STATUS: dict[str, str] = {
    "在册": "active",
    "在保": "active",
    "正常": "active",
    "享受": "active",
    "停发": "suspended",
    "暂停": "suspended",
    "终止": "terminated",
    "注销": "terminated",
    "退出": "terminated",
    "已故": "deceased",
    "死亡": "deceased",
}
_GRADES = {"一级": 1, "二级": 2, "三级": 3, "四级": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_CENT = Decimal("0.01")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _date(value: Any) -> str | None:
    """ISO date from what clerks type: ``2024-3-5``, ``2024/03/05``, ``2024.3.5``, ``20240305``.

    None when it is not a calendar date; the payload keeps what was written.
    """
    text = _text(value)
    if text is None:
        return None
    if len(text) == 10 and text[4] == "-" and text[7] == "-":  # the usual case, in C
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            return None
    text = text.split(" ")[0].split("T")[0]
    if len(text) == 8 and text.isdigit():
        parts = [text[:4], text[4:6], text[6:]]
    else:
        parts = text.replace("/", "-").replace(".", "-").split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2])).isoformat()
    except ValueError:
        return None


def _amount(value: Any) -> str | None:
    """Money as a fixed two-decimal string: floats from one driver, decimals from another."""
    text = _text(value)
    if text is None:
        return None
    try:
        return str(Decimal(text).quantize(_CENT))
    except InvalidOperation:
        return None


def _int(value: Any) -> int | None:
    text = _text(value)
    if text is None:
        return None
    if text in _GRADES:
        return _GRADES[text]
    try:
        return int(Decimal(text))
    except InvalidOperation:
        return None


def _benefit(raw: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    status_text = _text(raw.get("status"))
    status = BENEFIT_STATUS.get(status_text or "")
    return status, {"benefit_status": status, "status_text": status_text}


def _check_encoding(raw: Mapping[str, Any], key: str | None) -> None:
    for column, value in raw.items():
        if type(value) is dict and "issue" in value:  # the stream's marker; exact type: fast
            raise RecordRejected(
                f"encoding.{value['issue']}",
                f"column {column}: {value.get('detail', 'not decodable')}",
                source_key=key,
            )


def _require_identity(canonical: Mapping[str, Any], key: str) -> None:
    if canonical["resident_id"]:
        return
    second = ("resident_id_raw", "birth_date", "phone", "address")
    if canonical["name"] and any(canonical[f] for f in second):
        return
    raise RecordRejected(
        "identity.insufficient",
        "no valid resident ID, and no name with an ID, birth date, phone or address beside it",
        source_key=key,
    )


def map_row(
    item: Extracted,
    *,
    program: str,
    facts: Callable[[Mapping[str, Any]], dict[str, Any]],
    tags: Callable[[str | None], tuple[str, ...]],
    status: Callable[[str | None], str | None] = lambda _benefit: None,
) -> Mapped:
    """The shared steps: encoding, key, person fields, identity; ``facts``/``tags`` vary."""
    raw = item.raw
    if isinstance(raw, bytes):
        raise RecordRejected("schema.unparseable", "the row could not be read")
    key = item.source_key or _text(raw.get("case_no"))
    _check_encoding(raw, key)
    if key is None:
        # Keyed by the row id, so a re-read of the same row is recognised as already held.
        raise RecordRejected(
            "schema.missing_key",
            "the row has no case number (case_no)",
            source_key=f"id:{raw.get('id')}",
        )
    benefit, benefit_facts = _benefit(raw)
    canonical = person_fields(
        name=raw.get("name"),
        id_number=raw.get("id_number"),
        birth_date=raw.get("birth_date"),
        read_date=_date,
        gender=raw.get("gender"),
        phone=raw.get("phone"),
        address=raw.get("address"),
        relation=raw.get("relation"),
        tags=tags(benefit),
        status=status(benefit),
        facts={"program": program, "source_row_id": raw.get("id"), **benefit_facts, **facts(raw)},
    )
    _require_identity(canonical, key)
    return Mapped(source_key=key, payload=raw, canonical=canonical)


def _while_active(tag: str) -> Callable[[str | None], tuple[str, ...]]:
    return lambda benefit: (tag,) if benefit == "active" else ()


def map_dibao(item: Extracted) -> Mapped:
    return map_row(
        item,
        program="dibao",
        tags=_while_active("dibao"),
        facts=lambda r: {
            "dibao_household_no": _text(r.get("household_no")),
            "member_count": _int(r.get("member_count")),
            "monthly_amount": _amount(r.get("monthly_amount")),
            "approval_date": _date(r.get("approval_date")),
        },
    )


def map_tekun(item: Extracted) -> Mapped:
    return map_row(
        item,
        program="tekun",
        tags=_while_active("tekun"),
        facts=lambda r: {
            "support_mode": _text(r.get("support_mode")),
            "care_level": _text(r.get("care_level")),
            "monthly_amount": _amount(r.get("monthly_amount")),
            "approval_date": _date(r.get("approval_date")),
        },
    )


def map_elderly_allowance(item: Extracted) -> Mapped:
    return map_row(
        item,
        program="elderly_allowance",
        tags=lambda _benefit: ("aged_80_plus",),
        facts=lambda r: {
            "age_band": _text(r.get("age_band")),
            "monthly_amount": _amount(r.get("monthly_amount")),
            "start_date": _date(r.get("start_date")),
        },
    )


def map_disability(item: Extracted) -> Mapped:
    return map_row(
        item,
        program="disability",
        tags=lambda _benefit: ("disabled",),
        facts=lambda r: {
            "disability_category": _text(r.get("disability_category")),
            "disability_grade": _int(r.get("disability_grade")),
            "subsidy": _text(r.get("subsidy")),
            "issue_date": _date(r.get("issue_date")),
        },
    )


def map_death(item: Extracted) -> Mapped:
    return map_row(
        item,
        program="death_registration",
        tags=lambda _benefit: ("deceased",),
        status=lambda _benefit: "deceased",
        facts=lambda r: {
            "death_date": _date(r.get("death_date")),
            "death_place": _text(r.get("death_place")),
            "registered_on": _date(r.get("registered_on")),
        },
    )


#: Stream name → mapper.
MAPPERS: dict[str, Callable[[Extracted], Mapped]] = {
    "dibao": map_dibao,
    "tekun": map_tekun,
    "elderly_allowance": map_elderly_allowance,
    "disability": map_disability,
    "deaths": map_death,
}
