"""``District``: the one ground truth every source simulator serves its view of.

The geography (grid units, buildings), grid workers and organisations are small and built
up front.  People are not kept: each pass regenerates them grid by grid from per-grid
seeds, so a district of a million residents streams in flat memory and every pass, and
every source view, sees exactly the same people.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import date

from simulators.district.geography import build_buildings, build_units, grid_count, split
from simulators.district.households import plan_grid
from simulators.district.model import Building, GridUnit, Household, Person, SourceRow
from simulators.district.names import NameSampler
from simulators.district.people import Populator
from simulators.district.services import build_organisations, build_workers
from simulators.district.sources import PROFILES, SourceProfile
from simulators.district.spec import XIHU, DistrictSpec
from simulators.district.views import ViewContext, grid_rows

__all__ = ["DEFAULT_AS_OF", "District"]

#: The day the ground truth describes; fixed so that ages (and so the output) do not
#: change with the day the generator runs.
DEFAULT_AS_OF = date(2025, 1, 1)
_KEEP_IN_MEMORY = 20_000


class District:
    """A synthetic district of ``persons`` people, fully determined by ``seed``.

    ``persons`` counts everyone the truth knows, including the few who died or moved
    away (the register still holds them).  Pass a ``DistrictSpec`` to imitate another
    district.  Small districts (up to 20,000 people by default) keep their households
    after the first pass, so repeated views are cheap; large ones regenerate.
    """

    def __init__(
        self,
        persons: int,
        seed: int,
        *,
        spec: DistrictSpec = XIHU,
        as_of: date = DEFAULT_AS_OF,
        keep_in_memory: bool | None = None,
    ) -> None:
        if persons < 1:
            raise ValueError("a district needs at least one person")
        if persons >= 40_000_000:
            raise ValueError("phone numbering supports fewer than 40 million persons")
        self.persons_total = persons
        self.seed = seed
        self.spec = spec
        self.as_of = as_of
        self._names = NameSampler()
        rng = random.Random(f"{seed}:units")
        self.units: tuple[GridUnit, ...] = tuple(build_units(spec, rng, grid_count(persons)))
        by_code = {u.code: u for u in self.units}
        self.grids: tuple[GridUnit, ...] = tuple(u for u in self.units if u.level == "grid")
        quotas = split(persons, [rng.uniform(0.85, 1.15) for _ in self.grids])
        self._quotas = dict(zip((g.code for g in self.grids), quotas, strict=True))
        self._household_counts: dict[str, int] = {}
        buildings: list[Building] = []
        self._grid_buildings: dict[str, tuple[Building, ...]] = {}
        for grid in self.grids:
            count = len(self._plans(grid))
            self._household_counts[grid.code] = count
            community = by_code[grid.parent_code]
            street = by_code[community.parent_code].name
            grid_rng = random.Random(f"{seed}:buildings:{grid.code}")
            own = build_buildings(spec, grid_rng, grid, street, community, count)
            self._grid_buildings[grid.code] = tuple(own)
            buildings.extend(own)
        self.buildings: tuple[Building, ...] = tuple(buildings)
        self.workers = tuple(build_workers(self.grids, self._names, seed))
        communities = [u for u in self.units if u.level == "community"]
        self.organisations = tuple(build_organisations(spec, communities, self._names, seed))
        self._context = ViewContext(
            seed=seed,
            as_of=as_of,
            spec=spec,
            estates={b.code: b.estate for b in self.buildings},
            names=self._names,
            grid_index={g.code: i for i, g in enumerate(self.grids)},
        )
        self._keep = persons <= _KEEP_IN_MEMORY if keep_in_memory is None else keep_in_memory
        self._kept: list[tuple[GridUnit, list[Household]]] | None = None

    def _plans(self, grid: GridUnit) -> list[tuple[int, int, int]]:
        rng = random.Random(f"{self.seed}:plan:{grid.code}")
        return list(plan_grid(rng, self._quotas[grid.code]))

    @property
    def households_total(self) -> int:
        return sum(self._household_counts.values())

    def by_grid(self) -> Iterator[tuple[GridUnit, list[Household]]]:
        """Every grid with its households, in code order: one full generation pass."""
        if self._kept is not None:
            yield from self._kept
            return
        kept: list[tuple[GridUnit, list[Household]]] = []
        populator = Populator(self.spec, self.as_of, self.buildings, self._names)
        persons = itertools.accumulate(self._quotas.values(), initial=0)
        households = itertools.accumulate(self._household_counts.values(), initial=0)
        for grid, first_person, first_household in zip(
            self.grids, persons, households, strict=False
        ):
            rng = random.Random(f"{self.seed}:people:{grid.code}")
            plans = plan_grid(
                random.Random(f"{self.seed}:plan:{grid.code}"), self._quotas[grid.code]
            )
            batch = populator.grid(
                grid, plans, self._grid_buildings[grid.code], rng, first_person, first_household
            )
            if self._keep:
                kept.append((grid, batch))
            yield grid, batch
        if self._keep:
            self._kept = kept

    def households(self) -> Iterator[Household]:
        for _, batch in self.by_grid():
            yield from batch

    def persons(self) -> Iterator[Person]:
        for household in self.households():
            yield from household.members

    def view(self, source: str | SourceProfile) -> Iterator[SourceRow]:
        """What ``source`` holds, grid by grid, with that source's errors.

        ``source`` is a name from ``SOURCES`` or a profile (e.g. ``PROFILES[name].clean()``
        or one with other rates); the same district always yields the same rows.
        """
        profile = PROFILES[source] if isinstance(source, str) else source
        for grid, batch in self.by_grid():
            yield from self.grid_view(profile, grid, batch)

    def grid_view(
        self, profile: SourceProfile, grid: GridUnit, households: list[Household]
    ) -> Iterator[SourceRow]:
        """One grid of a view, for callers that make a single pass over ``by_grid()``
        and feed several sources from it (as ``write_district`` does)."""
        return grid_rows(profile, grid, households, self._context)
