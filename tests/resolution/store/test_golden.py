"""Golden records in the store: trust order, lineage, conflicts, tags, grid, bad input."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import (
    Address,
    Household,
    HouseholdMember,
    Person,
    PersonFieldLineage,
    PersonIdentifier,
    PersonStatus,
    SourceRecord,
)
from canonical_model.resolution_state import MatchReview, ReviewStatus
from gridhub.jobs.resolution import store_summary
from tests.resolution.store.district import CASE, person_of


def _lineage(s: Session, person_id: int) -> dict[str, tuple[str, str]]:
    rows = s.execute(
        select(PersonFieldLineage.field, SourceRecord.source_key, PersonFieldLineage.rule)
        .join(SourceRecord, SourceRecord.id == PersonFieldLineage.source_record_id)
        .where(PersonFieldLineage.person_id == person_id)
    )
    return {f: (key, rule) for f, key, rule in rows}


def test_golden_fields_follow_the_trust_order_and_name_their_source(
    resolved: sessionmaker[Session],
) -> None:
    with resolved() as s:
        pid = person_of(s, "hukou", "G-HK")
        assert {
            person_of(s, src, f"G-{k}")
            for src, k in (("civil_affairs", "MZ"), ("health", "PT"), ("utility", "SD"))
        } == {pid}
        p = s.get(Person, pid)
        assert p is not None
        # who someone is: the register, even though civil affairs wrote traditional script
        assert (p.name, p.resident_id, p.birth_date, p.gender) == (
            "欧阳建国",
            CASE.id_g,
            date(1940, 3, 12),
            "M",
        )
        lineage = _lineage(s, pid)
        for fld in ("name", "resident_id", "birth_date", "gender", "registered_address"):
            assert lineage[fld] == ("G-HK", "trust:hukou"), fld
        # how to reach them: the most recent trusted source (the water company, last)
        assert p.phone == "13900000002"
        assert lineage["phone"] == ("G-SD", "most_recent:trusted")
        assert lineage["residential_address"] == ("G-SD", "most_recent:trusted")
        home = s.get(Address, p.residential_address_id)
        registered = s.get(Address, p.registered_address_id)
        assert home is not None
        assert "文三路478号" in home.normalized
        assert registered is not None
        assert "保俶路12号" in registered.normalized
        # the grid of the home's building (the 15-digit prefix of its 18-digit code)
        assert p.grid_code == CASE.building[:15]
        # benefits from civil affairs, age from the birth date, alone at the address
        assert {"dibao", "elderly", "aged_80_plus", "living_alone"} <= set(p.tags)
        assert p.conflicts == {}
        kinds = {
            (k, v)
            for k, v in s.execute(
                select(PersonIdentifier.kind, PersonIdentifier.value).where(
                    PersonIdentifier.person_id == pid
                )
            )
        }
        assert {
            ("resident_id", CASE.id_g),
            ("phone", "13900000001"),
            ("phone", "13900000002"),
            ("household_no", "HH-G-0001"),
        } <= kinds
        member = s.execute(
            select(Household.household_no, HouseholdMember.relation)
            .join(HouseholdMember, HouseholdMember.household_id == Household.id)
            .where(HouseholdMember.person_id == pid)
        ).one()
        assert tuple(member) == ("HH-G-0001", "户主")


def test_conflicting_birth_dates_stay_visible(resolved: sessionmaker[Session]) -> None:
    with resolved() as s:
        pid = person_of(s, "hukou", "C-HK")
        assert person_of(s, "civil_affairs", "C-MZ") == pid  # the typo'd ID still matched
        p = s.get(Person, pid)
        assert p is not None
        assert p.birth_date == date(1961, 7, 4)  # the register's, not the clerk's
        values = {c["value"] for c in p.conflicts["birth_date"]}
        assert values == {"1961-07-04", "1961-07-14"}
        assert "disabled" in p.tags
        ids = {
            v
            for k, v in s.execute(
                select(PersonIdentifier.kind, PersonIdentifier.value).where(
                    PersonIdentifier.person_id == pid
                )
            )
            if k == "resident_id_unverified"
        }
        assert len(ids) == 1  # the mistyped ID is kept, marked unverified


def test_nothing_to_match_on_makes_a_flagged_person_of_its_own(
    resolved: sessionmaker[Session], resolved_url: str
) -> None:
    with resolved() as s:
        pid = person_of(s, "hotline", "Z-GD")
        p = s.get(Person, pid)
        assert p is not None
        assert p.flags == ["insufficient_identifiers"]
        members = s.scalars(select(SourceRecord.id).where(SourceRecord.person_id == pid)).all()
        assert len(members) == 1
        flagged = sum(
            "insufficient_identifiers" in flags
            for flags in s.scalars(select(Person.flags).where(Person.status != PersonStatus.MERGED))
        )
    # the job summary counts them in SQL (JSON as text), on either backend
    assert store_summary(resolved_url)["insufficient_identifiers"] == flagged >= 1


def test_same_id_other_name_and_birth_date_goes_to_review_not_merged(
    resolved: sessionmaker[Session],
) -> None:
    with resolved() as s:
        owner, stranger = person_of(s, "hukou", "K-HK"), person_of(s, "health", "K-PT")
        assert owner != stranger
        ids = {
            s.scalar(select(SourceRecord.id).where(SourceRecord.source_key == k))
            for k in ("K-HK", "K-PT")
        }
        review = s.scalars(
            select(MatchReview).where(
                MatchReview.left_record_id == min(ids), MatchReview.right_record_id == max(ids)
            )
        ).one()
        # the clinic's own birth date differs too, but adapters derive it from a valid ID,
        # so in the store it is the name that holds the merge back
        assert (review.status, review.reason) == (ReviewStatus.OPEN, "id_name_mismatch")
        assert review.levels["resident_id"] == "exact"
