"""What the rules may know about the person an event concerns.

Only derived facts leave this module (age, tags, household size), never a name, an ID
number or a phone: rules, logs and tasks need to know *that* someone is 82 and lives
alone, not who they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, aliased

from canonical_model import HouseholdMember, Person, PersonStatus

__all__ = ["PersonContext", "age_on", "person_context"]


@dataclass(frozen=True, slots=True)
class PersonContext:
    known: bool = False
    age: int | None = None
    gender: str | None = None
    status: str | None = None
    tags: tuple[str, ...] = field(default=())
    household_size: int | None = None

    @property
    def living_alone(self) -> bool:
        """Tagged so by a source, or the only active member of their household."""
        return "living_alone" in self.tags or self.household_size == 1

    def as_facts(self) -> dict[str, object]:
        return {
            "known": self.known,
            "age": self.age,
            "gender": self.gender,
            "status": self.status,
            "tags": list(self.tags),
            "household_size": self.household_size,
            "living_alone": self.living_alone,
        }


def age_on(birth: date | None, on: date) -> int | None:
    if birth is None:
        return None
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


_MINE = aliased(HouseholdMember)
_OTHERS = aliased(HouseholdMember)
# Built once: every event about a person asks it.
_HOUSEHOLD_SIZE = (
    select(func.count(func.distinct(_OTHERS.person_id)))
    .select_from(_MINE)
    .join(_OTHERS, _OTHERS.household_id == _MINE.household_id)
    .join(Person, Person.id == _OTHERS.person_id)
    .where(_MINE.person_id == bindparam("person_id"), Person.status == PersonStatus.ACTIVE)
)


def person_context(session: Session, person_id: int | None, on: date) -> PersonContext:
    """The rules' view of a person; an unknown person is ``known=False`` with no facts."""
    if person_id is None:
        return PersonContext()
    person = session.get(Person, person_id)
    if person is None:
        return PersonContext()
    if person.merged_into_id is not None:  # follow a merge to the surviving record
        survivor = session.get(Person, person.merged_into_id)
        person = survivor or person
    size = session.scalar(_HOUSEHOLD_SIZE, {"person_id": person.id})
    return PersonContext(
        known=True,
        age=age_on(person.birth_date, on),
        gender=str(person.gender),
        status=str(person.status),
        tags=tuple(person.tags or ()),
        household_size=int(size) if size else None,
    )
