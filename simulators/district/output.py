"""Writing the ground truth and the source views to CSV files, in one streaming pass.

``records.csv`` is the resolution engine's input layout and ``truth.csv`` its answer key,
so the benchmark can score ``gridhub resolve records.csv`` without knowing any source.
Rows of each source go to their own part file during the pass and are concatenated at
the end, so both files list one source after another without holding anything in memory.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

from simulators.district.district import District
from simulators.district.model import Household, Person, SourceRow
from simulators.district.sources import PROFILES, SOURCES

__all__ = ["FILES", "RECORD_COLUMNS", "write_district"]

RECORD_COLUMNS: tuple[str, ...] = (
    "source",
    "source_key",
    "name",
    "id_number",
    "birth_date",
    "gender",
    "phone",
    "address",
)
_PERSON_COLUMNS = (
    "person_key",
    "name",
    "id_number",
    "gender",
    "birth_date",
    "household_no",
    "relation",
    "phone",
    "previous_phone",
    "landline",
    "residence_address",
    "residence_building_code",
    "registered_address",
    "separated",
    "status",
    "death_date",
    "grid_code",
    "tags",
)
_HOUSEHOLD_COLUMNS = (
    "household_no",
    "grid_code",
    "building_code",
    "address",
    "kind",
    "landline",
    "head_person_key",
    "members",
    "residents",
)
_FIELDS = RECORD_COLUMNS[2:]

#: Every file ``write_district`` produces, in the order it reports them.
FILES: tuple[str, ...] = (
    "grid_units.csv",
    "buildings.csv",
    "workers.csv",
    "organisations.csv",
    "households.csv",
    "persons.csv",
    "records.csv",
    "truth.csv",
    "manifest.json",
)


def _writer(stack: ExitStack, path: Path, encoding: str, header: Sequence[str]) -> Any:
    handle: TextIO = stack.enter_context(path.open("w", encoding=encoding, newline=""))
    writer = csv.writer(handle, lineterminator="\n")
    if header:
        writer.writerow(header)
    return writer


def _person_row(p: Person) -> list[str]:
    return [
        p.key,
        p.name,
        p.id_number,
        p.gender,
        p.birth_date.isoformat(),
        p.household_no,
        p.relation,
        p.phone,
        p.previous_phone,
        p.landline,
        p.residence.full,
        p.residence.building_code,
        p.registered.full,
        "1" if p.separated else "0",
        p.status,
        p.death_date.isoformat() if p.death_date else "",
        p.grid_code,
        ";".join(p.tags),
    ]


def _household_row(h: Household) -> list[str | int]:
    residents = sum(1 for p in h.members if p.status == "active")
    a = h.address
    return [
        h.household_no,
        h.grid_code,
        a.building_code,
        a.full,
        h.kind,
        h.landline,
        h.head.key,
        len(h.members),
        residents,
    ]


def _static(district: District, out: Path, encoding: str, counts: dict[str, int]) -> None:
    with ExitStack() as stack:
        units = _writer(
            stack, out / "grid_units.csv", encoding, ("code", "name", "level", "parent_code")
        )
        for u in district.units:
            units.writerow((u.code, u.name, u.level, u.parent_code))
        for b in district.buildings:
            units.writerow((b.code, b.estate + b.address.building, "building", b.grid_code))
        counts["grid_units.csv"] = len(district.units) + len(district.buildings)
        buildings = _writer(
            stack,
            out / "buildings.csv",
            encoding,
            ("building_code", "grid_code", "estate", "address", "province", "city", "district",
             "street", "community", "road", "lane", "number", "building", "units", "floors",
             "flats_per_floor"),
        )  # fmt: skip
        for b in district.buildings:
            a = b.address
            buildings.writerow(
                (b.code, b.grid_code, b.estate, a.full, a.province, a.city, a.district, a.street,
                 a.community, a.road, a.lane, a.number, a.building, b.units, b.floors, b.per_floor)
            )  # fmt: skip
        counts["buildings.csv"] = len(district.buildings)
        workers = _writer(
            stack,
            out / "workers.csv",
            encoding,
            ("worker_id", "name", "gender", "phone", "grid_code", "role"),
        )
        for w in district.workers:
            workers.writerow((w.worker_id, w.name, w.gender, w.phone, w.grid_code, w.role))
        counts["workers.csv"] = len(district.workers)
        orgs = _writer(
            stack,
            out / "organisations.csv",
            encoding,
            ("org_id", "name", "credit_code", "categories", "communities", "contact_name", "phone"),
        )
        for o in district.organisations:
            orgs.writerow(
                (o.org_id, o.name, o.credit_code, ";".join(o.categories), ";".join(o.communities),
                 o.contact_name, o.phone)
            )  # fmt: skip
        counts["organisations.csv"] = len(district.organisations)


def _record(row: SourceRow) -> list[str]:
    fields = row.fields
    return [row.source, row.source_key, *(fields.get(f) or "" for f in _FIELDS)]


def write_district(
    district: District,
    out: Path,
    *,
    encoding: str = "utf-8",
    sources: Iterable[str] = SOURCES,
) -> dict[str, int]:
    """Write every ground-truth file and the views of ``sources``; rows per file.

    Same district, same bytes: nothing depends on the clock, the machine or dict order.
    """
    "".encode(encoding)  # an unknown encoding fails before any file is touched
    profiles = [PROFILES[s] for s in sources]
    out.mkdir(parents=True, exist_ok=True)
    parts = out / ".parts"
    parts.mkdir(exist_ok=True)
    counts: dict[str, int] = {}
    _static(district, out, encoding, counts)
    per_source = dict.fromkeys((p.name for p in profiles), 0)
    with ExitStack() as stack:
        households = _writer(stack, out / "households.csv", encoding, _HOUSEHOLD_COLUMNS)
        persons = _writer(stack, out / "persons.csv", encoding, _PERSON_COLUMNS)
        records = {
            p.name: _writer(stack, parts / f"{p.name}.records", encoding, ()) for p in profiles
        }
        truth = {p.name: _writer(stack, parts / f"{p.name}.truth", encoding, ()) for p in profiles}
        n_households = n_persons = 0
        for grid, batch in district.by_grid():
            for household in batch:
                households.writerow(_household_row(household))
                persons.writerows(_person_row(p) for p in household.members)
                n_persons += len(household.members)
            n_households += len(batch)
            for profile in profiles:
                rec, tru = records[profile.name], truth[profile.name]
                for row in district.grid_view(profile, grid, batch):
                    rec.writerow(_record(row))
                    tru.writerow((row.source, row.source_key, row.person_key))
                    per_source[profile.name] += 1
    counts["households.csv"] = n_households
    counts["persons.csv"] = n_persons
    for name, header in (
        ("records", RECORD_COLUMNS),
        ("truth", ("source", "source_key", "person_key")),
    ):
        with (out / f"{name}.csv").open("w", encoding=encoding, newline="") as target:
            csv.writer(target, lineterminator="\n").writerow(header)
            for profile in profiles:
                part = parts / f"{profile.name}.{name}"
                with part.open(encoding=encoding, newline="") as source:
                    shutil.copyfileobj(source, target, 1 << 20)
                part.unlink()
        counts[f"{name}.csv"] = sum(per_source.values())
    parts.rmdir()
    manifest = {
        "seed": district.seed,
        "persons": district.persons_total,
        "district": district.spec.key,
        "region_code": district.spec.region_code,
        "as_of": district.as_of.isoformat(),
        "encoding": encoding,
        "files": counts,
        "sources": {
            p.name: {"stream": p.stream, "rows": per_source[p.name], "fields": list(p.fields)}
            for p in profiles
        },
    }
    (out / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    counts["manifest.json"] = 1
    return counts
