"""The ground truth is plausible and internally consistent."""

from __future__ import annotations

from collections import Counter

import pytest

from canonical_model.values.phone import parse_phone
from canonical_model.values.resident_id import parse_resident_id
from simulators.district import XUHUI, District

from .conftest import Truth


def _share(flags: list[bool]) -> float:
    return sum(flags) / len(flags)


def test_exactly_the_requested_number_of_persons(truth: Truth) -> None:
    assert len(truth.persons) == 5_000
    assert len({p.key for p in truth.persons}) == 5_000


def test_resident_ids_are_valid_unique_and_agree_with_birth_date_and_gender(truth: Truth) -> None:
    as_of = truth.district.as_of
    for p in truth.persons:
        rid = parse_resident_id(p.id_number, today=as_of)
        assert rid.number == p.id_number
        assert (rid.birth_date, rid.gender) == (p.birth_date, p.gender)
    assert len({p.id_number for p in truth.persons}) == len(truth.persons)


def test_most_ids_carry_the_local_region_code_some_come_from_other_provinces(
    truth: Truth,
) -> None:
    regions = Counter(p.id_number[:2] for p in truth.persons)
    local = sum(p.id_number.startswith("330106") for p in truth.persons) / len(truth.persons)
    assert 0.55 < local < 0.85
    assert sum(n for prefix, n in regions.items() if prefix != "33") > 0.05 * len(truth.persons)


def test_grid_unit_codes_are_hierarchical(truth: Truth) -> None:
    district = truth.district
    codes = {u.code: u for u in district.units}
    depth = {"district": 6, "subdistrict": 9, "community": 12, "grid": 15}
    for unit in district.units:
        assert len(unit.code) == depth[unit.level]
        if unit.level != "district":
            parent = codes[unit.parent_code]
            assert unit.code.startswith(parent.code)
            assert len(unit.code) == len(parent.code) + 3
    for b in district.buildings:
        assert b.code.startswith(b.grid_code)
        assert len(b.code) == 18
        assert codes[b.grid_code].level == "grid"
    assert 3 <= sum(u.level == "subdistrict" for u in district.units) <= 6


def test_everyone_lives_in_a_building_of_their_grid(truth: Truth) -> None:
    buildings = {b.code: b for b in truth.district.buildings}
    flats = Counter(h.address for h in truth.households)
    assert max(flats.values()) == 1  # one household per flat
    for h in truth.households:
        assert h.household_no.startswith(h.grid_code)
        assert buildings[h.address.building_code].grid_code == h.grid_code
        assert h.members[0].relation == "户主"


def test_grids_hold_three_to_five_hundred_households(truth: Truth) -> None:
    per_grid = Counter(h.grid_code for h in truth.households)
    assert all(300 <= n <= 500 for n in per_grid.values()), per_grid


def test_ages_are_skewed_old(truth: Truth) -> None:
    ages = [p.age(truth.district.as_of) for p in truth.persons]
    assert 0.22 <= _share([a >= 60 for a in ages]) <= 0.28
    assert 0.065 <= _share([a >= 80 for a in ages]) <= 0.10
    assert max(ages) <= 104


def test_about_a_tenth_of_the_over_65s_live_alone(truth: Truth) -> None:
    over65 = [
        p for p in truth.persons if p.status == "active" and p.age(truth.district.as_of) >= 65
    ]
    assert 0.07 <= _share(["living_alone" in p.tags for p in over65]) <= 0.13


def test_people_tagged_living_alone_really_live_alone(truth: Truth) -> None:
    tagged = 0
    for h in truth.households:
        for p in h.members:
            if "living_alone" in p.tags:
                tagged += 1
                assert h.residents == [p]
                assert p.residence == h.address
                assert p.age(truth.district.as_of) >= 60
    assert tagged > 50


def test_one_in_seven_lives_apart_from_their_registration(truth: Truth) -> None:
    active = [p for p in truth.persons if p.status == "active"]
    assert 0.12 <= _share([p.separated for p in active]) <= 0.18
    for p in truth.persons:
        assert p.separated == (p.status == "active" and p.registered != p.residence)


def test_tags_follow_age_and_status(truth: Truth) -> None:
    as_of = truth.district.as_of
    for p in truth.persons:
        assert ("elderly" in p.tags) == (p.age(as_of) >= 60)
        assert ("aged_80_plus" in p.tags) == (p.age(as_of) >= 80)
        assert ("deceased" in p.tags) == (p.status == "deceased") == (p.death_date is not None)
        assert ("moved_out" in p.tags) == (p.status == "moved_out")
        assert not ("dibao" in p.tags and "tekun" in p.tags)
    tags = Counter(t for p in truth.persons for t in p.tags)
    assert 0.015 <= tags["dibao"] / len(truth.persons) <= 0.035
    assert tags["tekun"]
    assert tags["disabled"]
    assert tags["deceased"]
    assert tags["moved_out"]


def test_phones_are_valid_and_nobody_shares_a_mobile(truth: Truth) -> None:
    mobiles = [p.phone for p in truth.persons if p.phone]
    previous = [p.previous_phone for p in truth.persons if p.previous_phone]
    assert len(set(mobiles + previous)) == len(mobiles) + len(previous)
    for number in mobiles + previous:
        assert parse_phone(number).kind == "mobile"
    landlines = {p.landline for p in truth.persons if p.landline}
    assert landlines
    assert all(parse_phone(n).kind == "landline" for n in landlines)
    assert all(not p.phone for p in truth.persons if p.age(truth.district.as_of) < 12)


def test_common_names_collide(truth: Truth) -> None:
    names = Counter(p.name for p in truth.persons)
    assert names.most_common(1)[0][1] >= 3


def _credit_code_ok(code: str) -> bool:
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    total = sum(chars.index(c) * pow(3, i, 31) for i, c in enumerate(code[:17]))
    return len(code) == 18 and chars[(31 - total % 31) % 31] == code[17]


def test_workers_and_organisations(truth: Truth) -> None:
    district = truth.district
    per_grid = Counter(w.grid_code for w in district.workers)
    assert set(per_grid) == {g.code for g in district.grids}
    assert set(per_grid.values()) <= {1, 2}
    communities = {u.code for u in district.units if u.level == "community"}
    for org in district.organisations:
        assert _credit_code_ok(org.credit_code)
        assert org.credit_code.startswith("52330106")
        assert org.categories
        assert set(org.communities) <= communities
    assert len({w.phone for w in district.workers}) == len(district.workers)


@pytest.mark.parametrize("persons", [1, 7, 120], ids=lambda n: f"{n}-persons")
def test_tiny_districts_still_have_the_whole_hierarchy(persons: int) -> None:
    district = District(persons, seed=3)
    assert sum(1 for _ in district.persons()) == persons
    assert {u.level for u in district.units} == {"district", "subdistrict", "community", "grid"}


def test_another_real_district_can_be_imitated() -> None:
    district = District(400, seed=3, spec=XUHUI)
    person = next(district.persons())
    assert person.residence.full.startswith("上海市徐汇区")
    assert district.units[0].code == "310104"
    assert any(p.id_number.startswith("310104") for p in district.persons())


def test_a_second_pass_sees_the_same_people() -> None:
    district = District(300, seed=5, keep_in_memory=False)
    assert list(district.persons()) == list(district.persons())
