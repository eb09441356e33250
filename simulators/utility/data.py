"""Utility accounts and their daily readings, drawn from the synthetic district.

One account per occupied flat and utility (water and power everywhere, piped gas in most
flats), in the name of whoever opened it — often a family member, sometimes someone who
has died — as the district's utility view holds it. Daily usage follows the number of
people who live there; two anomalies are planted for the workflow to find, and listed in
``Anomaly`` records (ground truth, tests only):

* ``no_use`` — no water and no power for several days at the home of a person aged 70+
  who lives alone (a fall, a hospital stay nobody reported);
* ``spike`` — a sudden water spike of 15-40x for a few days (a leak).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from simulators.district.model import Household

if TYPE_CHECKING:
    from simulators.district import District

__all__ = ["KINDS", "Account", "Anomaly", "Reading", "UtilityDistrict"]

KINDS: tuple[str, ...] = ("water", "power", "gas")
#: Mean daily use per resident (m³, kWh, m³) and a flat's base load.
_PER_RESIDENT = {"water": 0.13, "power": 2.6, "gas": 0.25}
_BASE = {"water": 0.02, "power": 1.8, "gas": 0.05}
_PREFIX = {"water": "3301W", "power": "33E", "gas": "G571"}
_GAS_SHARE = 0.8


@dataclass(frozen=True, slots=True)
class Account:
    kind: str
    account: str
    holder: str
    phone: str | None
    address: str
    meter_no: str
    residents: int
    household_no: str
    person_key: str  # the holder, ground truth


@dataclass(frozen=True, slots=True)
class Anomaly:
    type: str  # no_use | spike
    kind: str
    account: str
    household_no: str
    person_key: str  # the resident concerned (the elder for no_use), ground truth
    start: date
    days: int

    def covers(self, day: date) -> bool:
        return self.start <= day < self.start + timedelta(days=self.days)


@dataclass(frozen=True, slots=True)
class Reading:
    account: Account
    day: date
    usage: float
    meter_reading: float


def _account_no(kind: str, household_no: str) -> str:
    """An opaque account number per flat and company (not the household number)."""
    digits = zlib.crc32(f"{kind}:{household_no}".encode()) % 10**9
    return f"{_PREFIX[kind]}{digits:09d}"


class UtilityDistrict:
    """The accounts of about ``households`` flats and a deterministic daily usage model.

    Readings are drawn day by day; ``as_of`` (the district's day) closes the anomaly
    windows, so files written for the days before it contain them.
    """

    def __init__(
        self,
        households: int,
        *,
        seed: int = 7,
        as_of: date | None = None,
        no_use_share: float = 0.3,
        spike_share: float = 0.01,
        district: District | None = None,
    ) -> None:
        """``district``: take the accounts from this one district (the demo's single truth)."""
        from simulators.district.district import DEFAULT_AS_OF, District
        from simulators.district.sources import PROFILES

        self.seed = seed
        self.as_of = district.as_of if district is not None else as_of or DEFAULT_AS_OF
        rng = random.Random(f"{seed}:utility-plan")
        if district is None:
            district = District(max(8, int(households * 2.6)), seed, as_of=self.as_of)
        self.accounts: list[Account] = []
        self.anomalies: list[Anomaly] = []
        count = 0
        for grid, batch in district.by_grid():
            by_no = {h.household_no: h for h in batch}
            for row in district.grid_view(PROFILES["utility"], grid, batch):
                if count >= households:
                    break
                household = by_no[row.source_key[2:]]
                count += 1
                self._add(household, row.person_key, dict(row.fields), rng)
                self._plant(household, rng, no_use_share, spike_share)
            if count >= households:
                break
        self._meters = {
            (a.kind, a.account): round(random.Random(f"{seed}:{a.account}").uniform(100, 9000), 3)
            for a in self.accounts
        }
        self._next_day: date | None = None

    def _add(
        self, household: Household, holder_key: str, f: dict[str, str | None], rng: random.Random
    ) -> None:
        no = household.household_no
        residents = len(household.residents)
        for kind in KINDS:
            if kind == "gas" and rng.random() >= _GAS_SHARE:
                continue
            self.accounts.append(
                Account(
                    kind=kind,
                    account=_account_no(kind, no),
                    holder=f["name"] or "",
                    phone=f["phone"],
                    address=f["address"] or "",
                    meter_no=f"{kind[0].upper()}{f['meter_no'] or ''}",
                    residents=residents,
                    household_no=no,
                    person_key=holder_key,
                )
            )

    def _plant(
        self, household: Household, rng: random.Random, no_use_share: float, spike_share: float
    ) -> None:
        no = household.household_no
        residents = household.residents
        if len(residents) == 1:
            elder = residents[0]
            if (
                "living_alone" in elder.tags
                and elder.age(self.as_of) >= 70
                and rng.random() < no_use_share
            ):
                days = rng.randint(3, 6)
                start = self.as_of - timedelta(days=days - 1)
                for kind in ("water", "power"):
                    self.anomalies.append(
                        Anomaly("no_use", kind, _account_no(kind, no), no, elder.key, start, days)
                    )
                return
        if residents and rng.random() < spike_share:
            days = rng.randint(2, 4)
            start = self.as_of - timedelta(days=rng.randint(days, 20))
            self.anomalies.append(
                Anomaly(
                    "spike", "water", _account_no("water", no), no, residents[0].key, start, days
                )
            )

    def readings(self, kind: str, day: date) -> Iterator[Reading]:
        """Each account's reading for ``day``. Meters advance with every day drawn, so draw
        days in order (a later day first would start the meters there)."""
        rng = random.Random(f"{self.seed}:{kind}:{day.isoformat()}")
        anomalies = {(a.kind, a.account): a for a in self.anomalies if a.covers(day)}
        for acc in self.accounts:
            if acc.kind != kind:
                continue
            mean = _BASE[kind] + _PER_RESIDENT[kind] * acc.residents if acc.residents else 0.0
            usage = mean * rng.uniform(0.6, 1.4)
            anomaly = anomalies.get((kind, acc.account))
            if anomaly is not None:
                usage = 0.0 if anomaly.type == "no_use" else usage * rng.uniform(15, 40)
            usage = round(usage, 3)
            meter = round(self._meters[(kind, acc.account)] + usage, 3)
            self._meters[(kind, acc.account)] = meter
            yield Reading(acc, day, usage, meter)
