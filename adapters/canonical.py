"""Mapping helpers every adapter shares: a source's person fields → canonical fields.

The canonical form is a flat JSON object with fixed keys (``CANONICAL_PERSON_KEYS``), so the
resolution engine reads every source the same way. A bad value does not always make a bad
record: a mistyped resident ID in a 民政 record is still evidence for matching, so by default
it is kept raw with the reason (``resident_id_issue``) and the record is stored. Where the
field is the source's own key (户籍 persons), ``strict`` turns the same problem into a
quarantine with the value type's reason code.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from adapters.contract import RecordRejected
from canonical_model.values import (
    InvalidValue,
    address_parts,
    normalize_name,
    parse_phone,
    parse_resident_id,
    pinyin_key,
)

#: The distinct sets of present address parts, shared by every cached address that has one.
_PART_NAMES: dict[tuple[str, ...], tuple[str, ...]] = {}


@lru_cache(maxsize=65_536)
def _address(raw: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """Normalised text, and the names and values of the present parts of an address.

    Household members share an address, and address parsing is the slowest value type:
    the result is immutable, so a bounded cache serves every member after the first. The
    names tuple is shared between entries to keep the cache small; an invalid address
    raises every time (exceptions are not cached).
    """
    normalized, parts = address_parts(raw)
    names = tuple(parts)
    return normalized, _PART_NAMES.setdefault(names, names), tuple(parts.values())


CANONICAL_PERSON_KEYS = (
    "name",
    "name_pinyin",
    "resident_id",
    "resident_id_raw",
    "resident_id_issue",
    "birth_date",
    "gender",
    "phone",
    "phone_issue",
    "address",
    "address_parts",
    "registered_address",
    "household_no",
    "relation",
    "tags",
    "status",
    "facts",
)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = (value if type(value) is str else str(value)).strip()
    return text or None


def _date(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip().replace("/", "-").replace(".", "-")
    if len(text) == 8 and text.isdigit():
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        return None


def _gender(value: Any) -> str:
    text = (_text(value) or "").upper()
    if text in {"M", "MALE", "男", "1"}:
        return "M"
    if text in {"F", "FEMALE", "女", "2"}:
        return "F"
    return "U"


def _reject(exc: InvalidValue) -> RecordRejected:
    return RecordRejected(f"{exc.field}.{exc.reason}", str(exc))


def person_fields(
    *,
    name: Any = None,
    id_number: Any = None,
    birth_date: Any = None,
    gender: Any = None,
    phone: Any = None,
    address: Any = None,
    registered_address: Any = None,
    household_no: Any = None,
    relation: Any = None,
    tags: Collection[str] = (),
    status: str | None = None,
    facts: dict[str, Any] | None = None,
    strict: Collection[str] = (),
    read_date: Callable[[Any], str | None] | None = None,
) -> dict[str, Any]:
    """Canonical person fields from whatever a source holds; ``strict`` names fields whose
    invalid value must reject the record (``name``, ``resident_id``, ``phone``, ``address``).

    ``read_date`` reads ``birth_date`` where a source writes dates its own way; it is called
    only when a valid resident ID does not give the birth date (nearly never), so a mapper
    passes the raw value rather than parsing one that is then thrown away.
    """
    # Locals, then one dict literal in CANONICAL_PERSON_KEYS order: every adapter pays this
    # per record, and item assignment into a prebuilt dict cost more than the values.
    name_out: str | None = None
    name_pinyin: str | None = None
    resident_id: str | None = None
    resident_id_raw: str | None = None
    resident_id_issue: str | None = None
    id_birth: str | None = None
    id_gender: str | None = None
    phone_out: str | None = None
    phone_issue: str | None = None
    address_out: str | None = None
    address_parts: dict[str, str] | None = None
    registered_out: str | None = None

    raw_name = _text(name)
    if raw_name is not None:
        try:
            name_out = normalize_name(raw_name)
            name_pinyin = pinyin_key(name_out)
        except InvalidValue as exc:
            if "name" in strict:
                raise _reject(exc) from None
    elif "name" in strict:
        raise RecordRejected("name.empty", "name: the record has no name")

    raw_id = _text(id_number)
    if raw_id is not None:
        try:
            rid = parse_resident_id(raw_id)
            resident_id = rid.number
            id_birth = rid.birth_date.isoformat()
            id_gender = rid.gender
        except InvalidValue as exc:
            if "resident_id" in strict:
                raise _reject(exc) from None
            resident_id_raw = raw_id
            resident_id_issue = exc.reason
    elif "resident_id" in strict:
        raise RecordRejected("resident_id.empty", "resident_id: the record has no ID number")

    raw_phone = _text(phone)
    if raw_phone is not None:
        try:
            phone_out = parse_phone(raw_phone).number
        except InvalidValue as exc:
            if "phone" in strict:
                raise _reject(exc) from None
            phone_issue = exc.reason

    raw_address = _text(address)
    if raw_address is not None:
        try:
            normalized, names, values = _address(raw_address)
        except InvalidValue as exc:
            if "address" in strict:
                raise _reject(exc) from None
            address_out = raw_address
        else:
            address_out = normalized
            address_parts = dict(zip(names, values, strict=True))

    raw_registered = _text(registered_address)
    if raw_registered is not None:
        try:
            registered_out = _address(raw_registered)[0]
        except InvalidValue as exc:
            if "registered_address" in strict:
                raise _reject(exc) from None
            registered_out = raw_registered

    return {
        "name": name_out,
        "name_pinyin": name_pinyin,
        "resident_id": resident_id,
        "resident_id_raw": resident_id_raw,
        "resident_id_issue": resident_id_issue,
        # A source's own birth date and gender win only where the ID did not give them.
        "birth_date": id_birth or (read_date or _date)(birth_date),
        "gender": id_gender or _gender(gender),
        "phone": phone_out,
        "phone_issue": phone_issue,
        "address": address_out,
        "address_parts": address_parts,
        "registered_address": registered_out,
        "household_no": _text(household_no),
        "relation": _text(relation),
        "tags": sorted(set(tags)) if tags else [],
        "status": status,
        "facts": facts or {},
    }
