"""One small district shared by the district tests (generation is the slow part)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from simulators.district import District, Household, Person


@dataclass(frozen=True)
class Truth:
    district: District
    households: list[Household]
    persons: list[Person]


@pytest.fixture(scope="session")
def truth() -> Truth:
    district = District(persons=5_000, seed=11)
    households = list(district.households())
    return Truth(district, households, [p for h in households for p in h.members])
