"""The grid hierarchy and the buildings households live in.

Codes are hierarchical (subdistrict = district + 3 digits, and so on down to buildings) so
that "everything in this community" is a prefix, as in ``canonical_model.geography``.
Grids are sized to hold 300-500 households, as district guidelines ask of a 网格.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from simulators.district.model import Address, Building, GridUnit
from simulators.district.spec import PLACE_STEMS, VILLAGE_STEMS, DistrictSpec, Region

__all__ = [
    "HOUSEHOLDS_PER_GRID",
    "build_buildings",
    "build_units",
    "grid_count",
    "outside_address",
    "split",
]

HOUSEHOLDS_PER_GRID = 400
MEAN_HOUSEHOLD_SIZE = 2.75
_VACANCY = 1.15  # flats per household: some stand empty

_COMMUNITY_SUFFIXES = ("", "一区", "二区", "三区", "新村", "苑", "花园", "北苑", "南苑")
_VILLAGE_SUFFIXES = ("", "东", "西", "南", "北", "新")
_ESTATE_SUFFIXES = ("苑", "花园", "新村", "公寓", "小区", "家园", "嘉园", "府", "里")
_RURAL_ESTATES = ("农居点", "安置小区", "新村")
_OUTSIDE_ROADS = ("人民路", "解放路", "建设路", "中山路", "和平路", "文化路", "新华路", "长江路")
_OUTSIDE_VILLAGES = ("王庄", "李集", "张湾", "刘营", "陈店", "杨桥", "赵楼", "周岗", "吴圩")
_OUTSIDE_TOWNS = ("城关镇", "新集镇", "高桥镇", "河口镇", "白沙镇", "黄岭镇")
# (units, floors, flats per floor, weight): walk-ups, mid-rise slabs, high-rise towers.
_SHAPES = ((3, 6, 2, 5), (2, 7, 2, 3), (2, 11, 2, 2), (2, 18, 3, 2), (1, 26, 4, 1))
_RURAL_SHAPES = ((2, 5, 2, 3), (2, 6, 2, 2), (1, 4, 1, 1))


def grid_count(persons: int) -> int:
    """Enough grids for ~400 households each, and at least one per subdistrict."""
    return max(3, round(persons / MEAN_HOUSEHOLD_SIZE / HOUSEHOLDS_PER_GRID))


def _subdistrict_count(grids: int) -> int:
    return 3 if grids < 24 else 4 if grids < 90 else 5 if grids < 300 else 6


def split(total: int, weights: Sequence[float], minimum: int = 0) -> list[int]:
    """Integers summing to ``total`` in proportion to ``weights`` (largest remainder),
    each at least ``minimum``; ties go to the earlier part so the result is deterministic."""
    n = len(weights)
    free = total - minimum * n
    if free < 0:
        raise ValueError(f"cannot give {n} parts at least {minimum} out of {total}")
    scale = free / sum(weights)
    raw = [w * scale for w in weights]
    parts = [math.floor(r) for r in raw]
    order = sorted(range(n), key=lambda i: (parts[i] - raw[i], i))
    for i in order[: free - sum(parts)]:
        parts[i] += 1
    return [p + minimum for p in parts]


class _Names:
    """Unique place names drawn from stems × suffixes."""

    def __init__(self, stems: Sequence[str], suffixes: Sequence[str], tail: str) -> None:
        self._pool = [s + x + tail for s in stems for x in suffixes]
        self._used: set[str] = set()
        self._tail = tail

    def draw(self, rng: random.Random) -> str:
        for _ in range(20):
            name = self._pool[rng.randrange(len(self._pool))]
            if name not in self._used:
                self._used.add(name)
                return name
        name = f"{self._pool[rng.randrange(len(self._pool))][: -len(self._tail)]}"
        name = f"{name}{len(self._used) + 1}{self._tail}"
        self._used.add(name)
        return name


def build_units(spec: DistrictSpec, rng: random.Random, grids: int) -> list[GridUnit]:
    """District, subdistricts, communities and grids, parents before children."""
    n_sub = _subdistrict_count(grids)
    urban = [s for s in spec.subdistricts if not s.town]
    towns = [s for s in spec.subdistricts if s.town]
    n_towns = 1 if n_sub >= 4 and towns else 0
    chosen = rng.sample(urban, n_sub - n_towns) + rng.sample(towns, n_towns)
    units = [GridUnit(spec.region_code, spec.district, "district", "")]
    community_names = _Names(PLACE_STEMS, _COMMUNITY_SUFFIXES, "社区")
    village_names = _Names(VILLAGE_STEMS, _VILLAGE_SUFFIXES, "村")
    per_sub = split(grids, [rng.uniform(0.7, 1.3) for _ in chosen], minimum=1)
    for s_index, (sub, sub_grids) in enumerate(zip(chosen, per_sub, strict=True), 1):
        sub_code = f"{spec.region_code}{s_index:03d}"
        units.append(GridUnit(sub_code, sub.name, "subdistrict", spec.region_code, sub.town))
        n_comm = max(1, round(sub_grids / rng.uniform(3.5, 7.5)))
        per_comm = split(sub_grids, [rng.uniform(0.6, 1.4) for _ in range(n_comm)], minimum=1)
        for c_index, comm_grids in enumerate(per_comm, 1):
            comm_code = f"{sub_code}{c_index:03d}"
            names = village_names if sub.town else community_names
            comm_name = names.draw(rng)
            units.append(GridUnit(comm_code, comm_name, "community", sub_code, sub.town))
            for g_index in range(1, comm_grids + 1):
                units.append(
                    GridUnit(
                        f"{comm_code}{g_index:03d}",
                        f"{comm_name}第{g_index}网格",
                        "grid",
                        comm_code,
                        sub.town,
                    )
                )
    return units


def build_buildings(
    spec: DistrictSpec,
    rng: random.Random,
    grid: GridUnit,
    street: str,
    community: GridUnit,
    households: int,
) -> list[Building]:
    """Estates of buildings in one grid with ~15 % more flats than ``households``."""
    need = math.ceil(households * _VACANCY) + 1
    shapes = _RURAL_SHAPES if grid.town else _SHAPES
    weights = [s[3] for s in shapes]
    buildings: list[Building] = []
    capacity = 0
    stem = community.name.removesuffix("社区").removesuffix("村")
    while capacity < need:
        if grid.town:
            estate = stem + rng.choice(_RURAL_ESTATES)
        else:
            estate = rng.choice(PLACE_STEMS) + rng.choice(_ESTATE_SUFFIXES)
        road = rng.choice(spec.roads)
        word = rng.choice(spec.building_words)
        lane = (
            f"{rng.randrange(1, 900)}弄" if word == "号" or rng.random() < spec.lane_share else ""
        )
        gate = "" if word == "号" else f"{rng.randrange(1, 600)}号"
        units, floors, per_floor, _ = rng.choices(shapes, weights)[0]
        if word == "号":
            units = 1
        for k in range(1, rng.randint(3, 16) + 1):
            if capacity >= need:
                break
            number, building = (f"{k}号", "") if word == "号" else (gate, f"{k}{word}")
            code = f"{grid.code}{len(buildings) + 1:03d}"
            address = Address(
                spec.province,
                spec.city,
                spec.district,
                street,
                community.name,
                road,
                lane,
                number,
                building,
                building_code=code,
            )
            b = Building(code, grid.code, estate, address, units, floors, per_floor)
            buildings.append(b)
            capacity += b.capacity
    if len(buildings) > 999:
        raise ValueError(f"grid {grid.code} needs more than 999 buildings")
    return buildings


def outside_address(region: Region, rng: random.Random) -> Address:
    """An address elsewhere in China: a city flat, or a village house in a county."""
    if region.county.endswith(("县", "市")) and rng.random() < 0.7:
        return Address(
            region.province,
            region.city,
            region.county,
            street=rng.choice(_OUTSIDE_TOWNS),
            community=rng.choice(_OUTSIDE_VILLAGES) + "村",
            number=f"{rng.randrange(1, 300)}号",
        )
    return Address(
        region.province,
        region.city,
        region.county,
        road=rng.choice(_OUTSIDE_ROADS),
        number=f"{rng.randrange(1, 400)}号",
        building=f"{rng.randrange(1, 30)}栋",
        unit=f"{rng.randrange(1, 4)}单元",
        room=f"{rng.randrange(1, 19) * 100 + rng.randrange(1, 5)}室",
    )
