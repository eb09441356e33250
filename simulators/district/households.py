"""Who lives together: household kinds, sizes, ages, genders and relations to the head.

The mix is tuned so that the population ages like an older Chinese urban district (about
25 % aged 60 and over, 8 % aged 80 and over, one in ten people over 65 living alone),
because community governance is mostly about its elderly.  A grid's household plan is
drawn before its people so buildings can be sized to it.
"""

from __future__ import annotations

import random
from typing import Literal, NamedTuple

__all__ = [
    "KINDS",
    "Member",
    "Plan",
    "compose",
    "plan_grid",
]

KINDS: tuple[str, ...] = (
    "single_elder",
    "elder_couple",
    "young_single",
    "couple",
    "nuclear",
    "three_generation",
    "single_parent",
    "elder_with_child",
)
# Indices into KINDS.
_SINGLE_ELDER, _ELDER_COUPLE, _YOUNG_SINGLE, _COUPLE = 0, 1, 2, 3
_NUCLEAR, _THREE_GEN, _SINGLE_PARENT, _ELDER_CHILD = 4, 5, 6, 7
_KIND_WEIGHTS = (0.050, 0.150, 0.090, 0.105, 0.300, 0.140, 0.050, 0.115)
_MAX_AGE = 104
_MEAN_EXCESS = 21.0


class Plan(NamedTuple):
    """A household before it has people: its kind and two kind-specific counts."""

    kind: int
    a: int = 0
    b: int = 0

    @property
    def size(self) -> int:
        k, a, b = self
        if k in (_SINGLE_ELDER, _YOUNG_SINGLE):
            return 1
        if k in (_ELDER_COUPLE, _COUPLE):
            return 2
        if k == _NUCLEAR:
            return 2 + a
        if k == _THREE_GEN:
            return a + 2 + b
        return 1 + a  # single parent + children; elder + adult child's family


class Member(NamedTuple):
    """A person-to-be: ``surname_of`` is the index of the member whose surname they
    carry, or -1 for a surname of their own (spouses)."""

    relation: str
    gender: Literal["M", "F"]
    age: int
    surname_of: int


def _draw(rng: random.Random) -> Plan:
    kind = rng.choices(range(8), _KIND_WEIGHTS)[0]
    if kind == _NUCLEAR:
        return Plan(kind, rng.choices((1, 2, 3), (0.55, 0.40, 0.05))[0])
    if kind == _THREE_GEN:
        return Plan(kind, rng.choice((1, 2)), rng.choices((1, 2), (0.6, 0.4))[0])
    if kind == _SINGLE_PARENT:
        return Plan(kind, rng.choices((1, 2), (0.8, 0.2))[0])
    if kind == _ELDER_CHILD:
        return Plan(kind, rng.choices((1, 2, 3), (0.5, 0.3, 0.2))[0])
    return Plan(kind)


def plan_grid(rng: random.Random, persons: int) -> list[Plan]:
    """Households whose sizes add up to exactly ``persons``."""
    plans: list[Plan] = []
    left = persons
    while left > 0:
        plan = _draw(rng)
        for _ in range(8):
            if plan.size <= left:
                break
            plan = _draw(rng)
        else:
            if left == 1:
                plan = Plan(_SINGLE_ELDER if rng.random() < 0.4 else _YOUNG_SINGLE)
            elif left == 2:
                plan = Plan(_ELDER_COUPLE if rng.random() < 0.5 else _COUPLE)
            else:
                plan = Plan(_NUCLEAR, min(3, left - 2))
        plans.append(plan)
        left -= plan.size
    return plans


def _elder(rng: random.Random, youngest: int) -> int:
    """Older ages thin out with a mean excess of ~17 years, so a third of the over-60s
    are over 80, as in Hangzhou's urban districts."""
    while True:
        age = youngest + int(rng.expovariate(1 / _MEAN_EXCESS))
        if age <= _MAX_AGE:
            return age


def _gender(rng: random.Random, male: float = 0.515) -> Literal["M", "F"]:
    return "M" if rng.random() < male else "F"


def _spouse_age(rng: random.Random, age: int, gender: str) -> int:
    gap = max(-6, min(10, round(rng.gauss(2.0, 2.5))))
    spouse = age - gap if gender == "M" else age + gap
    return max(20 if gender == "M" else 22, min(_MAX_AGE, spouse))


def _child_age(rng: random.Random, mother_age: int, oldest: int = 40) -> int:
    age = mother_age - rng.randint(22, 38)
    if age < 0:
        age = rng.randint(0, max(0, mother_age - 21))
    return min(age, oldest)


def _couple(rng: random.Random, wife_age: int, male_head: float) -> list[Member]:
    husband_age = _spouse_age(rng, wife_age, "F")
    if rng.random() < male_head:
        return [Member("户主", "M", husband_age, -1), Member("配偶", "F", wife_age, -1)]
    return [Member("户主", "F", wife_age, -1), Member("配偶", "M", husband_age, -1)]


def _children(
    rng: random.Random, members: list[Member], count: int, relation: str, oldest: int
) -> None:
    """Children of the couple at the front of ``members`` take the father's surname."""
    father = next(i for i, m in enumerate(members) if m.gender == "M")
    mother_age = next(m.age for m in members if m.gender == "F")
    for _ in range(count):
        link = father if rng.random() < 0.95 else 1 - father
        members.append(Member(relation, _gender(rng), _child_age(rng, mother_age, oldest), link))


def compose(rng: random.Random, plan: Plan) -> list[Member]:
    """The members of a planned household, head first."""
    k, a, b = plan
    if k == _SINGLE_ELDER:
        return [Member("户主", _gender(rng, 0.35), _elder(rng, 64), -1)]
    if k == _YOUNG_SINGLE:
        return [Member("户主", _gender(rng, 0.55), min(59, 20 + int(rng.expovariate(1 / 9))), -1)]
    if k == _ELDER_COUPLE:
        husband = Member("户主", "M", _elder(rng, 62), -1)
        wife = Member("配偶", "F", max(58, _spouse_age(rng, husband.age, "M")), -1)
        if rng.random() < 0.15:
            return [wife._replace(relation="户主"), husband._replace(relation="配偶")]
        return [husband, wife]
    if k == _COUPLE:
        return _couple(rng, rng.randint(23, 57), 0.75)
    if k == _NUCLEAR:
        members = _couple(rng, rng.randint(27, 55), 0.75)
        _children(rng, members, a, "子女", 32)
        return members
    if k == _THREE_GEN:
        members = _couple(rng, rng.randint(30, 52), 0.75)
        head = members[0]
        head_age = head.age
        _children(rng, members, b, "子女", 24)
        elder_age = min(_MAX_AGE, head_age + rng.randint(26, 36))
        if a == 2 or rng.random() < 0.35:
            members.append(Member("父母", "M", elder_age, 0))
        if a == 2 or len(members) == 2 + b:
            members.append(Member("父母", "F", max(50, elder_age - rng.randint(0, 5)), -1))
        return members
    if k == _SINGLE_PARENT:
        parent_gender = _gender(rng, 0.3)
        parent_age = rng.randint(30, 55)
        members = [Member("户主", parent_gender, parent_age, -1)]
        for _ in range(a):
            mother_age = parent_age if parent_gender == "F" else parent_age - 2
            link = 0 if parent_gender == "M" or rng.random() < 0.4 else -1
            members.append(Member("子女", _gender(rng), _child_age(rng, mother_age, 25), link))
        return members
    # An old parent living with an adult child's family.
    elder_gender = _gender(rng, 0.35)
    elder_age = _elder(rng, 75)
    child_gender = _gender(rng)
    child_age = max(35, elder_age - rng.randint(24, 36))
    link = 0 if elder_gender == "M" or rng.random() < 0.3 else -1
    members = [
        Member("户主", elder_gender, elder_age, -1),
        Member("子女", child_gender, child_age, link),
    ]
    if a >= 2:
        in_law = "儿媳" if child_gender == "M" else "女婿"
        spouse_age = _spouse_age(rng, child_age, child_gender)
        members.append(Member(in_law, "F" if child_gender == "M" else "M", spouse_age, -1))
    if a >= 3:
        mother_age = child_age if child_gender == "F" else members[2].age
        grandchild_link = 1 if child_gender == "M" else 2
        members.append(
            Member("孙子女", _gender(rng), _child_age(rng, mother_age, 30), grandchild_link)
        )
    return members
