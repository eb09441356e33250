"""The health platform's content, drawn from the synthetic district's health view.

Patients are the view's rows (with its errors: homophones, stale phones, missing ID
numbers, the same person registered at two hospitals). Inpatient stays and vital signs are
added per patient, more often for the old; an elderly person living alone is admitted more
often, so the demo always has discharges the workflow must turn into follow-up visits.
``HealthData.truth`` says who each patient really is and what was planted, for tests only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

from simulators.health.resources import encounter, observation, patient

if TYPE_CHECKING:
    from simulators.district import District

__all__ = ["CST", "HealthData", "district_health", "format_instant"]

CST = timezone(timedelta(hours=8))
_HOSPITALS = ("杭州市西湖区人民医院", "杭州市第一人民医院", "西湖区中医院", "浙大一院")
_REGISTERED_SHARE = 0.78  # patients per district resident, measured on the view


def format_instant(moment: datetime) -> str:
    """A FHIR ``instant`` in China Standard Time with milliseconds, as most servers write."""
    local = moment.astimezone(CST)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}+08:00"


@dataclass(slots=True)
class HealthData:
    """Resources in no particular order plus what a test may check against."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    #: Patient id → the district's person key (ground truth).
    patients: dict[str, str] = field(default_factory=dict)
    #: Encounter ids of discharges of elderly people living alone.
    discharges_alone: list[str] = field(default_factory=list)
    #: Observation ids whose value lies outside the reference range.
    out_of_range: list[str] = field(default_factory=list)
    #: "Type/id" of resources deliberately made invalid.
    invalid: list[str] = field(default_factory=list)

    def truth(self) -> dict[str, Any]:
        return {
            "patients": dict(self.patients),
            "discharges_alone": list(self.discharges_alone),
            "out_of_range": list(self.out_of_range),
            "invalid": list(self.invalid),
        }


class _Builder:
    def __init__(self, seed: int, as_of: date) -> None:
        self.rng = random.Random(f"{seed}:health-clinical")
        self.as_of = as_of
        self.end = datetime.combine(as_of, time(18, 0), CST)
        self.data = HealthData()
        self.encounters = 0
        self.observations = 0

    def stamp(self, not_before: datetime | None = None) -> str:
        """When the platform last wrote a resource: within the 60 days before ``as_of``."""
        lo = not_before or self.end - timedelta(days=60)
        span = max(1.0, (self.end - lo).total_seconds())
        return format_instant(lo + timedelta(seconds=self.rng.uniform(0, span)))

    def add_patient(self, pid: str, person: Any, fields: dict[str, str | None]) -> None:
        rng = self.rng
        self.data.patients[pid] = person.key if person is not None else ""
        self.data.resources.append(
            patient(pid, fields, stamp=self.stamp(), name_parts=rng.random() < 0.7)
        )
        if person is None or person.status != "active":
            return
        age = person.age(self.as_of)
        alone = "living_alone" in person.tags and age >= 60
        p_stay = 0.5 if alone else 0.25 if age >= 70 else 0.12 if age >= 60 else 0.04
        if rng.random() < p_stay:
            self._stay(pid, alone)
        for _ in range(rng.choice((0, 1, 1, 2, 3) if age >= 60 else (0, 0, 1, 1, 2))):
            self._observation(pid, age)

    def _stay(self, pid: str, alone: bool) -> None:
        rng = self.rng
        self.encounters += 1
        eid = f"EN{self.encounters:09d}"
        start = self.end - timedelta(days=rng.uniform(3, 45), hours=rng.uniform(0, 8))
        end = start + timedelta(days=rng.uniform(2, 14))
        discharged = end < self.end - timedelta(hours=2)
        self.data.resources.append(
            encounter(
                eid,
                pid,
                start=format_instant(start),
                end=format_instant(end) if discharged else None,
                hospital=rng.choice(_HOSPITALS),
                stamp=self.stamp(end if discharged else start),
            )
        )
        if discharged and alone:
            self.data.discharges_alone.append(eid)

    def _observation(self, pid: str, age: int) -> None:
        rng = self.rng
        self.observations += 1
        oid = f"OB{self.observations:010d}"
        kind = rng.choice(("heart_rate", "spo2", "blood_pressure", "glucose"))
        bad = rng.random() < (0.25 if age >= 70 else 0.12)
        values: tuple[float, ...]
        if kind == "heart_rate":
            values = (
                (float(rng.choice((rng.randint(110, 140), rng.randint(42, 55)))),)
                if bad
                else (float(rng.randint(62, 96)),)
            )
        elif kind == "spo2":
            values = (float(rng.randint(85, 93) if bad else rng.randint(95, 99)),)
        elif kind == "blood_pressure":
            values = (
                (float(rng.randint(150, 185)), float(rng.randint(92, 110)))
                if bad
                else (float(rng.randint(102, 135)), float(rng.randint(64, 86)))
            )
        else:
            good = round(rng.uniform(4.2, 6.0), 1)
            values = (round(rng.uniform(7.5, 13.5), 1) if bad else good,)
        taken = self.end - timedelta(days=rng.uniform(0, 60))
        self.data.resources.append(
            observation(
                oid, pid, kind, values, effective=format_instant(taken), stamp=self.stamp(taken)
            )
        )
        if bad:
            self.data.out_of_range.append(oid)


def _corrupt(resource: dict[str, Any]) -> None:
    """Make a resource invalid in the ways real feeds are: a wrong type, a missing
    required element, an impossible date."""
    kind = resource["resourceType"]
    if kind == "Patient":
        resource["birthDate"] = "1956-13-01"
    elif kind == "Encounter":
        resource["class"] = [resource["class"]]  # R5's shape, not R4's
    else:
        resource.pop("status", None)


def district_health(
    patients: int,
    *,
    seed: int = 7,
    invalid: int = 0,
    as_of: date | None = None,
    district: District | None = None,
) -> HealthData:
    """About ``patients`` Patients (at least that many) with their encounters and vitals.

    With ``district`` given, every patient of that one district (at most ``patients``): the
    demo feeds all simulators from one ground truth."""
    from simulators.district.district import DEFAULT_AS_OF, District
    from simulators.district.sources import PROFILES

    given = district
    day = given.as_of if given is not None else as_of or DEFAULT_AS_OF
    size = max(16, int(patients / _REGISTERED_SHARE) + 32)
    profile = PROFILES["health"]
    while True:
        district = given or District(size, seed, as_of=day)
        builder = _Builder(seed, day)
        count = 0
        for grid, households in district.by_grid():
            people = {p.key: p for h in households for p in h.members}
            for row in district.grid_view(profile, grid, households):
                if count >= patients:
                    break
                builder.add_patient(row.source_key, people.get(row.person_key), dict(row.fields))
                count += 1
            if count >= patients:
                break
        if count >= patients or given is not None:
            break
        size = int(size * 1.25) + 16
    data = builder.data
    if invalid:
        keep = set(data.discharges_alone) | set(data.out_of_range)
        by_type: dict[str, list[dict[str, Any]]] = {}
        for res in data.resources:
            if res["id"] not in keep:
                by_type.setdefault(res["resourceType"], []).append(res)
        kinds = sorted(by_type)
        for i in range(invalid):  # round-robin over types, spread through each type
            pool = by_type[kinds[i % len(kinds)]]
            res = pool[(i // len(kinds) * 7919 + 13) % len(pool)]
            if f"{res['resourceType']}/{res['id']}" in data.invalid:
                continue
            _corrupt(res)
            data.invalid.append(f"{res['resourceType']}/{res['id']}")
    return data


def utc(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp).astimezone(UTC)
