"""``UtilityDrop``: the three companies dropping their daily files into one inbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulators.utility.data import KINDS, UtilityDistrict
from simulators.utility.files import FORMATS, write_file

if TYPE_CHECKING:
    from simulators.district import District

__all__ = ["UtilityDrop"]


class UtilityDrop:
    """Writes each day's reading files (and manifests) for ``households`` flats into
    ``inbox``. Days must be written in order: meters only move forward."""

    def __init__(
        self,
        inbox: Path,
        households: int = 200,
        *,
        seed: int = 7,
        as_of: date | None = None,
        formats: Mapping[str, str] | None = None,
        district: District | None = None,
    ) -> None:
        self.inbox = Path(inbox)
        self.district = UtilityDistrict(households, seed=seed, as_of=as_of, district=district)
        self.formats = {**FORMATS, **(formats or {})}

    @property
    def as_of(self) -> date:
        return self.district.as_of

    def write_day(
        self,
        day: date,
        *,
        kinds: Sequence[str] = KINDS,
        faults: Mapping[str, str] | None = None,
    ) -> list[Path]:
        """One file per company for ``day``; ``faults`` maps a kind to a fault name."""
        faults = faults or {}
        return [
            write_file(
                self.inbox,
                kind,
                day,
                self.district.readings(kind, day),
                fmt=self.formats[kind],
                fault=faults.get(kind),
            )
            for kind in kinds
        ]

    def write_days(self, last: date, days: int, **kwargs: Any) -> list[Path]:
        """``days`` consecutive days ending with ``last``."""
        paths: list[Path] = []
        for offset in range(days - 1, -1, -1):
            paths += self.write_day(last - timedelta(days=offset), **kwargs)
        return paths

    def truth(self) -> dict[str, Any]:
        """Accounts (with their holder's person key) and the planted anomalies."""
        return {
            "accounts": [
                {"kind": a.kind, "account": a.account, "person_key": a.person_key,
                 "household_no": a.household_no, "residents": a.residents}
                for a in self.district.accounts
            ],
            "anomalies": [
                {"type": x.type, "kind": x.kind, "account": x.account,
                 "household_no": x.household_no, "person_key": x.person_key,
                 "start": x.start.isoformat(), "days": x.days}
                for x in self.district.anomalies
            ],
        }  # fmt: skip
