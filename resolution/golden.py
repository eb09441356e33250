"""The unified record of one person, field by field, from the records resolution gave it.

Sources are not equally right about everything, so each field has its own authority:
the household register (户籍) for who someone *is* (name, resident ID, birth date, gender,
registered address), civil affairs (民政) for the benefits they receive, and whoever
heard from them last, among sources that talk to residents, for how to reach them (phone,
where they live).  Every chosen value names the record it came from and the rule that
chose it, and disagreements that matter (two valid IDs, two birth dates) are kept in
``conflicts`` instead of being settled silently.  Pure functions over plain values: the
store module feeds them and writes the result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from resolution.cn_normalisers import honorific_surname

__all__ = [
    "CONTACT_FALLBACK",
    "CONTACT_TRUSTED",
    "IDENTITY_TRUST",
    "WELFARE_SOURCES",
    "WELFARE_TAGS",
    "Golden",
    "GoldenInput",
    "age_tags",
    "golden_person",
]

#: Who someone is: most authoritative first; unlisted sources rank after these.
IDENTITY_TRUST: tuple[str, ...] = ("hukou", "civil_affairs", "health", "utility", "hotline")
#: Sources that talk to the resident and record how to reach them; most recent wins.
CONTACT_TRUSTED: frozenset[str] = frozenset({"civil_affairs", "health", "utility"})
#: Used only when no trusted source has a value (a caller's number, the registered flat).
CONTACT_FALLBACK: tuple[str, ...] = ("hotline", "hukou")
#: Benefit tags only the benefit's own office can grant or withdraw.
WELFARE_SOURCES: frozenset[str] = frozenset({"civil_affairs"})
WELFARE_TAGS: frozenset[str] = frozenset({"dibao", "tekun", "disabled"})
_STATUS_TAGS = frozenset({"deceased", "moved_out"})


@dataclass(frozen=True)
class GoldenInput:
    """One source record as survivorship sees it: canonical fields and where they came from."""

    record_id: int
    source: str
    updated_at: datetime
    canonical: dict[str, Any]
    sufficient: bool = True


@dataclass
class Golden:
    """The surviving values; ``lineage`` maps field → (source record id, rule)."""

    name: str | None = None
    name_pinyin: str | None = None
    resident_id: str | None = None
    birth_date: date | None = None
    gender: str = "U"
    phone: str | None = None
    residential_address: str | None = None
    residential_parts: dict[str, Any] | None = None
    registered_address: str | None = None
    status: str = "active"
    tags: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    conflicts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lineage: dict[str, tuple[int, str]] = field(default_factory=dict)
    identifiers: list[tuple[str, str, int]] = field(default_factory=list)
    household: tuple[str, str | None, int] | None = None  # (household_no, relation, record)


_RANK = {source: rank for rank, source in enumerate(IDENTITY_TRUST)}


def _trust(source: str) -> int:
    return _RANK.get(source, len(IDENTITY_TRUST))


def _value(rec: GoldenInput, key: str) -> Any:
    return rec.canonical.get(key) or None  # "", [] and {} say nothing either


def _by_trust(records: Sequence[GoldenInput], key: str) -> tuple[Any, GoldenInput] | None:
    """The value of the most trusted source; the most recent record breaks a tie."""
    held = [r for r in records if _value(r, key) is not None]
    if not held:
        return None
    best = min(held, key=lambda r: (_trust(r.source), -r.updated_at.timestamp(), r.record_id))
    return _value(best, key), best


def _most_recent(records: Sequence[GoldenInput], key: str) -> tuple[Any, GoldenInput, str] | None:
    """Trusted contact sources by recency; the fallback sources in their order."""
    trusted = [r for r in records if r.source in CONTACT_TRUSTED and _value(r, key) is not None]
    if trusted:
        best = max(trusted, key=lambda r: (r.updated_at, -_trust(r.source), -r.record_id))
        return _value(best, key), best, "most_recent:trusted"
    for source in CONTACT_FALLBACK:
        held = [r for r in records if r.source == source and _value(r, key) is not None]
        if held:
            best = max(held, key=lambda r: (r.updated_at, -r.record_id))
            return _value(best, key), best, f"fallback:{source}"
    return None


def _distinct(records: Iterable[GoldenInput], key: str) -> list[dict[str, Any]]:
    """Each distinct value with the first record that holds it: a conflict's evidence."""
    seen: dict[Any, dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: (_trust(r.source), r.record_id)):
        v = _value(r, key)
        if v is not None and v not in seen:
            seen[v] = {"value": v, "source": r.source, "source_record_id": r.record_id}
    return list(seen.values())


def age_tags(birth: date | None, on: date) -> list[str]:
    if birth is None:
        return []
    age = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    return ["elderly", "aged_80_plus"] if age >= 80 else ["elderly"] if age >= 60 else []


def _name(g: Golden, records: Sequence[GoldenInput]) -> None:
    real = [r for r in records if _value(r, "name") and not honorific_surname(r.canonical["name"])]
    found = _by_trust(real or records, "name")
    if found:
        g.name, rec = found
        g.name_pinyin = _value(rec, "name_pinyin")
        g.lineage["name"] = (rec.record_id, f"trust:{rec.source}")


def _identity(g: Golden, records: Sequence[GoldenInput]) -> None:
    ids = _distinct(records, "resident_id")
    if len(ids) > 1:
        g.conflicts["resident_id"] = ids
    counts = Counter(r.canonical["resident_id"] for r in records if _value(r, "resident_id"))
    held = [r for r in records if _value(r, "resident_id")]
    if held:
        # the register's ID, else the ID most records agree on
        best = min(
            held,
            key=lambda r: (
                r.source != "hukou",
                -counts[r.canonical["resident_id"]],
                _trust(r.source),
                r.record_id,
            ),
        )
        g.resident_id = best.canonical["resident_id"]
        rule = "trust:hukou" if best.source == "hukou" else "most_frequent"
        g.lineage["resident_id"] = (best.record_id, rule)
    for kind, key in (
        ("resident_id", "resident_id"),
        ("resident_id_unverified", "resident_id_raw"),
    ):
        for item in _distinct(records, key):
            g.identifiers.append((kind, str(item["value"]), int(item["source_record_id"])))
    births = _distinct(records, "birth_date")
    if len(births) > 1:
        g.conflicts["birth_date"] = births
    found = _by_trust(records, "birth_date")
    if found:
        value, rec = found
        g.birth_date = date.fromisoformat(value)
        g.lineage["birth_date"] = (rec.record_id, f"trust:{rec.source}")
    genders = [r for r in records if r.canonical.get("gender") in ("M", "F")]
    if len({r.canonical["gender"] for r in genders}) > 1:
        g.conflicts["gender"] = _distinct(genders, "gender")
    found = _by_trust(genders, "gender")
    if found:
        g.gender, rec = found
        g.lineage["gender"] = (rec.record_id, f"trust:{rec.source}")


def _contact(g: Golden, records: Sequence[GoldenInput]) -> None:
    found = _most_recent(records, "phone")
    if found:
        g.phone, rec, rule = found
        g.lineage["phone"] = (rec.record_id, rule)
    for item in _distinct(records, "phone"):
        g.identifiers.append(("phone", str(item["value"]), int(item["source_record_id"])))
    # a register entry's flat is where someone lives only when nobody says otherwise
    homes = [
        r
        if r.source != "hukou" or _value(r, "address")
        else GoldenInput(r.record_id, r.source, r.updated_at, _as_home(r.canonical))
        for r in records
    ]
    found = _most_recent(homes, "address")
    if found:
        g.residential_address, rec, rule = found
        g.residential_parts = rec.canonical.get("address_parts")
        g.lineage["residential_address"] = (rec.record_id, rule)
    registered = _by_trust(records, "registered_address")
    if registered:
        g.registered_address, rec = registered
        g.lineage["registered_address"] = (rec.record_id, f"trust:{rec.source}")


def _as_home(canonical: dict[str, Any]) -> dict[str, Any]:
    return {**canonical, "address": canonical.get("registered_address"), "address_parts": None}


def _status_and_tags(g: Golden, records: Sequence[GoldenInput], on: date) -> None:
    register = _by_trust([r for r in records if r.source == "hukou"], "status")
    died = [r for r in records if r.canonical.get("status") == "deceased"]
    if died:
        rec = min(died, key=lambda r: (_trust(r.source), r.record_id))
        g.status = "deceased"
        g.lineage["status"] = (rec.record_id, f"any:{rec.source}")
    elif register:
        g.status, rec = register
        g.lineage["status"] = (rec.record_id, "trust:hukou")
    tags = set(age_tags(g.birth_date, on)) if g.status == "active" else set()
    welfare = [r for r in records if r.source in WELFARE_SOURCES]
    for r in welfare:
        tags |= set(r.canonical.get("tags") or ()) & WELFARE_TAGS
    if g.birth_date is None:  # the elderly allowance is the only word on age we have
        for r in welfare:
            tags |= set(r.canonical.get("tags") or ()) & {"aged_80_plus"}
    if g.status in _STATUS_TAGS:
        tags.add(g.status)
    g.tags = sorted(tags)


def golden_person(records: Sequence[GoldenInput], on: date) -> Golden:
    """Survivorship over one person's records (``living_alone`` needs the household and is
    added by the caller, who sees everyone at the address)."""
    g = Golden()
    _name(g, records)
    _identity(g, records)
    _contact(g, records)
    _status_and_tags(g, records, on)
    if not any(r.sufficient for r in records):
        g.flags.append("insufficient_identifiers")
    households = [r for r in records if r.source == "hukou" and _value(r, "household_no")]
    if households:
        rec = min(households, key=lambda r: (-r.updated_at.timestamp(), r.record_id))
        relation = rec.canonical.get("relation")
        g.household = (str(rec.canonical["household_no"]), relation, rec.record_id)
        g.identifiers.append(("household_no", g.household[0], rec.record_id))
    return g
