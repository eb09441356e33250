"""Every simulator the demo starts is fed from one district, so the truth can score the hub."""

from __future__ import annotations

import pytest

from simulators.district import District


@pytest.fixture(scope="module")
def district() -> District:
    return District(400, 5)


def test_every_view_draws_on_the_same_residents(district: District) -> None:
    from simulators.health.data import district_health
    from simulators.hukou.data import persons_of
    from simulators.utility.data import UtilityDistrict

    residents = {p.key for p in district.persons()}
    hukou_rows = list(district.view("hukou"))
    persons = persons_of(district)
    assert len(persons) == len(hukou_rows) > 0
    assert {p.id_number for p in persons} == {r.fields["id_number"] or "" for r in hukou_rows}

    health = district_health(10**9, seed=5, district=district)
    patients = health.truth()["patients"]
    assert len(patients) == sum(1 for _ in district.view("health"))
    assert set(patients.values()) <= residents

    utility = UtilityDistrict(10**9, seed=5, district=district)
    assert utility.as_of == district.as_of
    holders = {a.person_key for a in utility.accounts}
    assert holders
    assert holders <= residents
