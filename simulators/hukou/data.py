"""The simulator's persons: the synthetic district's household-register view, in wire form.

The view carries the register's typical errors (first-generation 15-digit numbers, stray
whitespace) and no ethnicity, which the register does hold; it is derived here from the
ground-truth key so that it is stable across runs and views.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import TYPE_CHECKING

from simulators.hukou.store import HukouPerson

if TYPE_CHECKING:
    from simulators.district import District, SourceRow

__all__ = ["district_persons", "persons_of"]

#: 民族 with rough shares for a Zhejiang district (畲族 is Zhejiang's largest minority).
_ETHNICITIES = (
    ("汉族", 9_700),
    ("畲族", 80),
    ("回族", 50),
    ("土家族", 50),
    ("苗族", 45),
    ("满族", 25),
    ("壮族", 20),
    ("蒙古族", 10),
    ("维吾尔族", 10),
    ("朝鲜族", 10),
)
_TOTAL = sum(w for _, w in _ETHNICITIES)
#: The register's wire enumeration; the view spells death as 死亡注销 (deregistered).
_STATUS = {"正常": "正常", "迁出": "迁出", "死亡注销": "死亡", "死亡": "死亡"}
#: Share of a district's residents whose 户籍 is registered there (measured on the view).
_REGISTERED_SHARE = 0.88


def _ethnicity(person_key: str) -> str:
    roll = int.from_bytes(hashlib.blake2b(person_key.encode(), digest_size=4).digest()) % _TOTAL
    for name, weight in _ETHNICITIES:
        if roll < weight:
            return name
        roll -= weight
    return _ETHNICITIES[0][0]


def district_persons(count: int, *, seed: int) -> list[HukouPerson]:
    """``count`` registrations from a district just large enough to hold them."""
    from simulators.district import District

    size = max(16, int(count / _REGISTERED_SHARE) + 64)
    while True:
        rows = list(itertools.islice(District(size, seed).view("hukou"), count))
        if len(rows) >= count:
            break
        size = int(size * 1.2)
    return _persons(rows)


def persons_of(district: District) -> list[HukouPerson]:
    """Every registration of one given district (the demo feeds all simulators one truth)."""
    return _persons(list(district.view("hukou")))


def _persons(rows: list[SourceRow]) -> list[HukouPerson]:
    persons: list[HukouPerson] = []
    for row in rows:
        f = row.fields
        persons.append(
            HukouPerson(
                id_number=f["id_number"] or "",
                name=f["name"] or "",
                gender=f["gender"] or "",
                birth_date=f["birth_date"],
                ethnicity=_ethnicity(row.person_key),
                registered_address=f["address"],
                household_no=f["household_no"] or "",
                relation=f["relation"] or "",
                status=_STATUS.get(f["status"] or "", f["status"] or ""),
            )
        )
    return persons
