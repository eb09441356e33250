"""A 户籍 person → canonical person fields.

The household register is the authority on identity, and its record is keyed by the ID
number, so an ID that fails GB 11643 is not stored under a wrong key: the record goes to
quarantine with the value type's reason code (``resident_id.check_digit`` …) for the
registry office to correct. A status outside the WSDL's enumeration is quarantined too:
guessing whether someone is alive is not a mapper's call.
"""

from __future__ import annotations

from typing import Any

from adapters.canonical import person_fields
from adapters.contract import Extracted, Mapped, RecordRejected

__all__ = ["STATUS", "map_person"]

#: 户口状态 → canonical person status.
STATUS = {"正常": "active", "迁出": "moved_out", "死亡": "deceased", "死亡注销": "deceased"}
#: Status-derived tags, in the district vocabulary (simulators.district.model.TAGS).
_STATUS_TAGS = {"active": (), "moved_out": ("moved_out",), "deceased": ("deceased",)}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def map_person(item: Extracted) -> Mapped:
    raw = item.raw
    if isinstance(raw, bytes):
        raise RecordRejected("schema.unparseable", "the person element could not be read")
    key = _text(raw.get("idNumber"))
    if key is None:
        raise RecordRejected("resident_id.empty", "resident_id: the record has no ID number")
    status = STATUS.get(_text(raw.get("status")) or "")
    if status is None:
        raise RecordRejected(
            "status.unknown", "status is not one of 正常, 迁出, 死亡", source_key=key
        )
    canonical = person_fields(
        name=raw.get("name"),
        # A space typed inside the number (a register clerk's slip) is never part of it.
        id_number="".join(key.split()),
        birth_date=raw.get("birthDate"),
        gender=raw.get("gender"),
        registered_address=raw.get("registeredAddress"),
        household_no=raw.get("householdNo"),
        relation=raw.get("relationToHead"),
        tags=_STATUS_TAGS[status],
        status=status,
        facts={
            "ethnicity": _text(raw.get("ethnicity")),
            "relation_to_head": _text(raw.get("relationToHead")),
            "household_no": _text(raw.get("householdNo")),
        },
        strict={"resident_id"},
    )
    return Mapped(source_key=key, payload=raw, canonical=canonical)
