"""A small district for workflow tests: two grids in one community, workers, residents.

330106                     西湖区 (district, with a district admin)
  330106001                北山街道
    330106001001           宝石社区 (community admin CA1)
      330106001001001      grid 1: workers W1, W2 (on duty), W3 (off duty)
        330106001001001001 building 1 (address "A1", flat of an 82-year-old living alone)
      330106001001002      grid 2: no worker on duty
        330106001001002001 building 2
    330106001002           another community, no grid units below it
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session, sessionmaker

from canonical_model import (
    Address,
    GridLevel,
    GridUnit,
    Household,
    HouseholdMember,
    Person,
)
from canonical_model.roster import GridWorker, ServiceOrganisation
from canonical_model.store import transaction

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
DISTRICT = "330106"
COMMUNITY = "330106001001"
OTHER_COMMUNITY = "330106001002"
GRID1 = "330106001001001"
GRID2 = "330106001001002"
BUILDING1 = "330106001001001001"
BUILDING2 = "330106001001002001"


@dataclass(frozen=True)
class District:
    elder_id: int  # 82, living alone, dibao
    couple_ids: tuple[int, int]  # 75 and 73, one household
    young_id: int  # 30
    address1_id: int
    address2_id: int


def _unit(code: str, level: GridLevel, parent: str | None) -> GridUnit:
    return GridUnit(code=code, name=f"unit {code}", level=level, parent_code=parent)


def seed(sessions: sessionmaker[Session]) -> District:
    with transaction(sessions) as s:
        for unit in (
            _unit(DISTRICT, GridLevel.DISTRICT, None),
            _unit("330106001", GridLevel.SUBDISTRICT, DISTRICT),
            _unit(COMMUNITY, GridLevel.COMMUNITY, "330106001"),
            _unit(OTHER_COMMUNITY, GridLevel.COMMUNITY, "330106001"),
            _unit(GRID1, GridLevel.GRID, COMMUNITY),
            _unit(GRID2, GridLevel.GRID, COMMUNITY),
            _unit(BUILDING1, GridLevel.BUILDING, GRID1),
            _unit(BUILDING2, GridLevel.BUILDING, GRID2),
        ):
            s.add(unit)
            s.flush()
        s.add_all(
            [
                GridWorker(code="W1", name="w1", grid_code=GRID1),
                GridWorker(code="W2", name="w2", grid_code=GRID1),
                GridWorker(code="W3", name="w3", grid_code=GRID1, on_duty=False),
                GridWorker(code="W4", name="w4", grid_code=GRID2, on_duty=False),
                GridWorker(code="CA1", name="ca", grid_code=COMMUNITY, role="community_admin"),
                GridWorker(code="DA1", name="da", grid_code=DISTRICT, role="district_admin"),
                ServiceOrganisation(
                    code="ORG1",
                    name="居家养老服务中心",
                    categories=["elder_care", "community_service"],
                    area_codes=[COMMUNITY],
                ),
                ServiceOrganisation(
                    code="ORG2", name="调解服务社", categories=["mediation"], area_codes=[COMMUNITY]
                ),
            ]
        )
        a1 = Address(normalized="A1", building_code=BUILDING1)
        a2 = Address(normalized="A2", building_code=BUILDING2)
        s.add_all([a1, a2])
        s.flush()
        elder = Person(
            birth_date=date(1944, 1, 1),
            grid_code=GRID1,
            residential_address_id=a1.id,
            tags=["elderly", "aged_80_plus", "living_alone", "dibao"],
        )
        husband = Person(birth_date=date(1951, 1, 1), grid_code=GRID2, residential_address_id=a2.id)
        wife = Person(
            birth_date=date(1953, 1, 1),
            grid_code=GRID2,
            residential_address_id=a2.id,
            tags=["disabled"],
        )
        young = Person(birth_date=date(1996, 1, 1), grid_code=GRID2)
        s.add_all([elder, husband, wife, young])
        s.flush()
        household = Household(household_no="H1", address_id=a2.id)
        household.members = [
            HouseholdMember(person_id=husband.id, relation="户主"),
            HouseholdMember(person_id=wife.id, relation="配偶"),
        ]
        s.add(household)
        return District(elder.id, (husband.id, wife.id), young.id, a1.id, a2.id)
