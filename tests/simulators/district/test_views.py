"""Each source sees its own slice of the truth, with its own errors, reproducibly."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from canonical_model.values.resident_id import parse_resident_id
from canonical_model.values.text import fold
from simulators.district import PROFILES, SOURCES, District, ErrorRates, SourceRow

from .conftest import Truth


@pytest.fixture(scope="module")
def views(truth: Truth) -> dict[str, list[SourceRow]]:
    return {s: list(truth.district.view(s)) for s in SOURCES}


@pytest.fixture(scope="module")
def clean(truth: Truth) -> dict[str, list[SourceRow]]:
    return {s: list(truth.district.view(PROFILES[s].clean())) for s in SOURCES}


def test_rows_carry_the_sources_fields_and_unique_keys(views: dict[str, list[SourceRow]]) -> None:
    for source, rows in views.items():
        profile = PROFILES[source]
        assert rows, source
        assert len({r.source_key for r in rows}) == len(rows)
        for row in rows:
            assert (row.source, row.stream) == (source, profile.stream)
            assert tuple(row.fields) == profile.fields


def test_every_row_points_at_a_real_person(truth: Truth, views: dict[str, list[SourceRow]]) -> None:
    keys = {p.key for p in truth.persons}
    for source, rows in views.items():
        outside = [r for r in rows if r.person_key not in keys]
        if source == "hotline":
            assert all(r.person_key.startswith("X") for r in outside)
            assert 0.2 < len(outside) / len(rows) < 0.5
        else:
            assert outside == []


def test_clean_views_hold_the_same_records_and_the_truth(
    truth: Truth, clean: dict[str, list[SourceRow]], views: dict[str, list[SourceRow]]
) -> None:
    people = {p.key: p for p in truth.persons}
    for source in SOURCES:
        assert [r.source_key for r in clean[source]] == [r.source_key for r in views[source]]
    for row in clean["hukou"] + clean["civil_affairs"] + clean["health"]:
        person = people[row.person_key]
        assert row.fields["name"] == person.name
        assert row.fields["birth_date"] == person.birth_date.isoformat()
        assert row.fields["id_number"] in (person.id_number, None)


def test_the_register_holds_everyone_registered_here_at_their_registered_address(
    truth: Truth, clean: dict[str, list[SourceRow]]
) -> None:
    registered = {p.key: p for p in truth.persons if p.registered_here}
    rows = clean["hukou"]
    assert [r.person_key for r in rows] == list(registered)
    for row in rows:
        assert row.fields["address"] == registered[row.person_key].registered.full


def test_civil_affairs_knows_only_beneficiaries(
    truth: Truth, clean: dict[str, list[SourceRow]]
) -> None:
    people = {p.key: p for p in truth.persons}
    labels = {"最低生活保障": "dibao", "特困人员供养": "tekun", "残疾人两项补贴": "disabled"}
    for row in clean["civil_affairs"]:
        tag = labels.get(row.fields["category"] or "")
        if tag:
            assert tag in people[row.person_key].tags
    dibao = {p.key for p in truth.persons if "dibao" in p.tags}
    got = {r.person_key for r in clean["civil_affairs"] if r.fields["category"] == "最低生活保障"}
    assert got == dibao


def test_utility_accounts_are_in_a_household_members_name(
    truth: Truth, clean: dict[str, list[SourceRow]]
) -> None:
    members = {h.household_no: {p.key for p in h.members} for h in truth.households}
    rows = clean["utility"]
    assert len(rows) == len(truth.households)
    for row in rows:
        assert row.person_key in members[row.source_key.removeprefix("SD")]
    not_head = {r.person_key for r in rows} - {h.head.key for h in truth.households}
    assert len(not_head) > 0.2 * len(rows)


def test_hukou_has_occasional_legacy_ids_that_upgrade_to_the_truth(
    truth: Truth, views: dict[str, list[SourceRow]]
) -> None:
    people = {p.key: p for p in truth.persons}
    ids = [(r.fields["id_number"] or "").strip() for r in views["hukou"]]
    legacy = [(i, r) for i, r in zip(ids, views["hukou"], strict=True) if len(i) == 15]
    assert 0.01 < len(legacy) / len(ids) < 0.06
    for number, row in legacy:
        assert parse_resident_id(number).number == people[row.person_key].id_number


def test_error_rates_show_up_roughly_as_profiled(
    truth: Truth, views: dict[str, list[SourceRow]], clean: dict[str, list[SourceRow]]
) -> None:
    def changed(source: str, field: str) -> float:
        pairs = zip(views[source], clean[source], strict=True)
        return sum(a.fields[field] != b.fields[field] for a, b in pairs) / len(views[source])

    assert changed("hukou", "name") < 0.01
    assert 0.02 < changed("civil_affairs", "id_number") < 0.08
    assert 0.02 < changed("health", "name") < 0.09
    assert changed("utility", "address") > 0.4
    names = [fold(r.fields["name"] or "") for r in views["civil_affairs"]]
    truth_names = [r.fields["name"] for r in clean["civil_affairs"]]
    folded_equal = sum(a == b for a, b in zip(names, truth_names, strict=True))
    assert folded_equal / len(names) > 0.95


def test_missing_fields_are_none(views: dict[str, list[SourceRow]]) -> None:
    missing = Counter(k for r in views["health"] for k, v in r.fields.items() if v is None)
    assert 0.05 < missing["id_number"] / len(views["health"]) < 0.25


def test_hotline_callers_are_often_known_only_by_surname(
    views: dict[str, list[SourceRow]],
) -> None:
    names = [r.fields["name"] or "" for r in views["hotline"]]
    titled = sum(n.endswith(("先生", "女士")) for n in names)
    assert 0.25 < titled / len(names) < 0.7


def test_views_are_reproducible_and_independent_of_each_other() -> None:
    first = District(800, seed=9)
    second = District(800, seed=9, keep_in_memory=False)
    assert list(first.view("health")) == list(second.view("health"))
    assert list(District(800, seed=10).view("health")) != list(first.view("health"))


def test_changing_one_error_rate_keeps_the_records(truth: Truth) -> None:
    noisy = dataclasses.replace(PROFILES["utility"], errors=ErrorRates(homophone=1.0))
    rows = list(truth.district.view(noisy))
    base = list(truth.district.view("utility"))
    assert [r.person_key for r in rows] == [r.person_key for r in base]


def test_unknown_source_is_refused(truth: Truth) -> None:
    bogus = dataclasses.replace(PROFILES["hukou"], name="tax")
    with pytest.raises(ValueError, match="unknown source"):
        next(truth.district.view(bogus))
