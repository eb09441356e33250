"""What each source system holds and how badly: one ``SourceProfile`` per source.

Rates are per record and per applicable field, tuned to what district data offices report:
the household register is nearly clean but still has first-generation 15-digit numbers,
civil-affairs clerks mistype and a legacy GB18030 system keeps traditional script, the
hotline knows a caller by voice, health records drift by homophone, and a utility account
is in whichever family member opened it.  A profile is a value: derive a cleaner or
noisier one with ``dataclasses.replace`` or ``SourceProfile.clean()``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["PROFILES", "SOURCES", "ErrorRates", "SourceProfile"]


@dataclass(frozen=True, slots=True)
class ErrorRates:
    """Probability of each error per record (ID, name, phone and address errors apply
    only to records that hold that field; ``legacy_id`` only to people born before 1984).
    ``missing`` is the chance, per field, that the record leaves it empty."""

    legacy_id: float = 0.0
    mistyped_id: float = 0.0
    transposed_id: float = 0.0
    homophone: float = 0.0
    traditional: float = 0.0
    fullwidth: float = 0.0
    abbreviated_address: float = 0.0
    stale_phone: float = 0.0
    whitespace: float = 0.0
    missing: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class SourceProfile:
    """One source system: its stream, the fields it holds (in its own order), the
    encoding its transport uses, and its error rates."""

    name: str
    title: str
    stream: str
    protocol: str
    encoding: str
    fields: tuple[str, ...]
    errors: ErrorRates

    def clean(self) -> SourceProfile:
        """The same source without errors: for tests of the transport, not of matching."""
        return dataclasses.replace(self, errors=ErrorRates())


def _missing(**rates: float) -> Mapping[str, float]:
    return MappingProxyType(rates)


HUKOU = SourceProfile(
    name="hukou",
    title="户籍 household register",
    stream="persons",
    protocol="soap",
    encoding="utf-8",
    fields=(
        "name",
        "id_number",
        "gender",
        "birth_date",
        "address",
        "household_no",
        "relation",
        "status",
        "status_date",
    ),
    errors=ErrorRates(legacy_id=0.04, whitespace=0.005),
)

CIVIL_AFFAIRS = SourceProfile(
    name="civil_affairs",
    title="民政 civil affairs benefits",
    stream="recipients",
    protocol="odbc",
    encoding="gb18030",
    fields=(
        "name",
        "id_number",
        "gender",
        "birth_date",
        "phone",
        "address",
        "category",
        "start_date",
        "status",
    ),
    errors=ErrorRates(
        mistyped_id=0.02,
        transposed_id=0.01,
        homophone=0.01,
        traditional=0.03,
        fullwidth=0.01,
        abbreviated_address=0.3,
        stale_phone=0.1,
        whitespace=0.02,
        missing=_missing(phone=0.15),
    ),
)

HOTLINE = SourceProfile(
    name="hotline",
    title="12345 citizen hotline work orders",
    stream="work_orders",
    protocol="kafka",
    encoding="utf-8",
    fields=("name", "phone", "address", "category", "content", "created_at"),
    errors=ErrorRates(
        homophone=0.08,
        fullwidth=0.02,
        abbreviated_address=0.7,
        stale_phone=0.05,
        whitespace=0.05,
        missing=_missing(name=0.1, address=0.15),
    ),
)

HEALTH = SourceProfile(
    name="health",
    title="卫健 health records (FHIR Patient)",
    stream="patients",
    protocol="fhir",
    encoding="utf-8",
    fields=("name", "id_number", "gender", "birth_date", "phone", "address", "deceased_date"),
    errors=ErrorRates(
        transposed_id=0.005,
        homophone=0.04,
        fullwidth=0.01,
        abbreviated_address=0.1,
        stale_phone=0.08,
        whitespace=0.01,
        missing=_missing(id_number=0.12, phone=0.1, address=0.05),
    ),
)

UTILITY = SourceProfile(
    name="utility",
    title="水电 utility accounts",
    stream="accounts",
    protocol="files",
    encoding="utf-8",
    fields=("name", "phone", "address", "meter_no", "opened_on"),
    errors=ErrorRates(
        homophone=0.02,
        fullwidth=0.03,
        abbreviated_address=0.6,
        stale_phone=0.15,
        whitespace=0.03,
        missing=_missing(phone=0.4),
    ),
)

#: Every source, in the order files and views list them.
PROFILES: Mapping[str, SourceProfile] = MappingProxyType(
    {p.name: p for p in (HUKOU, CIVIL_AFFAIRS, HOTLINE, HEALTH, UTILITY)}
)
SOURCES: tuple[str, ...] = tuple(PROFILES)
