"""Address rows for golden records: found by normalised text, created when new, put in a grid.

A new address inherits the building code of a coded address naming the same building
(same anchor, lane, number and building), so creating one needs every coded address's
building key.  A full run reads them once; a worker placing records one by one keeps them
in a :class:`Geography` across its transactions and reads only the coded addresses added
since (``id > mark``): re-reading and re-parsing every coded address whenever a newcomer
brings a new address text costs more the larger the district, per placement.  A person's
grid is looked up for the building codes at hand, not by reading the whole grid tree.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from canonical_model import Address, GridLevel, GridUnit
from resolution.bulk import fetch_rows, insert_rows
from resolution.cn_normalisers import SIMPLE, WITH_ARG

__all__ = ["AddressBook", "Geography"]

_ADDRESS_PARTS = (
    "province",
    "city",
    "district",
    "street",
    "community",
    "road",
    "lane",
    "number",
    "building",
    "unit",
    "room",
)
_building_key = WITH_ARG["parts"]("anchor,lane?,number?,building")
_IN = 500
_LEVEL = GridUnit.__table__.c.level.type


@lru_cache(maxsize=1 << 16)
def _key_of(text: str) -> str | None:
    parts = SIMPLE["cn_address"](text)
    key = _building_key(parts)
    return None if key is None else str(key)


class Geography:
    """Building key → building code over every coded address, read incrementally.

    Coded addresses are only ever added (seeded with the grid, or created here with a
    code copied from this map), so the rows above ``mark`` are all that can be new to a
    worker that read the rest before.  Where one key has several codes the smallest
    wins: the code the full scan in ``ix_address_building_code`` order kept first.
    """

    def __init__(self) -> None:
        self.buildings: dict[str, str] = {}
        self.mark = 0

    def refresh(self, session: Session) -> dict[str, str]:
        top = fetch_rows(session, "SELECT max(id) FROM address")[0][0] or 0
        # the first read seeks ``ix_address_building_code`` (``> ''``, not ``IS NOT
        # NULL``: the same rows, a code is a grid unit's and never empty, but SQLite
        # scans the table for IS NOT NULL); later ones read the ids above the mark, a
        # primary-key range of what was added since, coded or not
        sql = "SELECT id, normalized, building_code FROM address WHERE building_code > ''"
        if self.mark:
            rows = fetch_rows(session, f"{sql} AND id > ?", [self.mark])
        else:
            rows = fetch_rows(session, sql)
        for _aid, text, code in rows:
            key = _key_of(text)
            if key is not None and code is not None:
                known = self.buildings.get(key)
                if known is None or code < known:
                    self.buildings[key] = code
        self.mark = max(self.mark, int(top))
        return self.buildings


class AddressBook:
    """Address rows by normalised text, and the grid of a building, for one refresh."""

    def __init__(self, session: Session, geography: Geography | None = None) -> None:
        self.session = session
        self.geography = geography if geography is not None else Geography()
        self._ids: dict[str, tuple[int, str | None]] = {}
        self._grid_of: dict[str, str | None] = {}
        self._all_grids = False
        self._fresh = False  # geography refreshed in this book's transaction

    def preload(self) -> None:
        """Every address and grid unit (a full run needs most of them)."""
        for aid, text, code in fetch_rows(
            self.session, "SELECT id, normalized, building_code FROM address"
        ):
            self._ids.setdefault(text, (aid, code))
        self._grids(fetch_rows(self.session, _GRID_SQL, (), (None, _LEVEL, None)))
        self._all_grids = True

    def _grids(self, rows: Iterable[tuple[Any, ...]]) -> None:
        for code, level, parent in rows:
            if level == GridLevel.GRID:
                self._grid_of[code] = code
            elif level == GridLevel.BUILDING and parent:
                self._grid_of[code] = parent

    def load_grids(self, codes: Iterable[str | None]) -> None:
        """The grid units of these building codes (and of their 15-character prefixes),
        in one query per 500: a placement needs one or two, not the whole tree."""
        if self._all_grids:
            return
        wanted = sorted(
            {c for code in codes if code for c in (code, code[:15])} - set(self._grid_of)
        )
        for start in range(0, len(wanted), _IN):
            chunk = wanted[start : start + _IN]
            self._grid_of.update(dict.fromkeys(chunk))
            marks = ", ".join("?" * len(chunk))
            sql = f"{_GRID_SQL} WHERE code IN ({marks})"
            self._grids(fetch_rows(self.session, sql, chunk, (None, _LEVEL, None)))

    def grid(self, building_code: str | None) -> str | None:
        if building_code is None:
            return None
        self.load_grids([building_code])
        return self._grid_of.get(building_code) or self._grid_of.get(building_code[:15])

    def resolve(self, wanted: dict[str, dict[str, Any] | None]) -> None:
        """Make sure every text in ``wanted`` (text → parts) has a row, in a few queries."""
        texts = sorted(t for t in wanted if t not in self._ids)
        self._lookup(texts)
        missing = [t for t in texts if t not in self._ids]
        if not missing:
            return
        if not self._fresh:
            self.geography.refresh(self.session)
            self._fresh = True
        buildings = self.geography.buildings
        rows = []
        for text in missing:
            key = _key_of(text) if buildings else None
            parts = wanted[text] or {}
            rows.append(
                {
                    "normalized": text,
                    "building_code": None if key is None else buildings.get(key),
                    **{k: str(parts[k])[:60] if parts.get(k) else None for k in _ADDRESS_PARTS},
                }
            )
        # a plain bulk insert, then the new ids by text: an ORM insert with RETURNING
        # costs ten times as much per row, and a full run creates an address per home
        table: Table = Address.__table__  # type: ignore[assignment]
        insert_rows(self.session, table, rows)
        self._lookup(missing)

    def _lookup(self, texts: list[str]) -> None:
        for start in range(0, len(texts), _IN):
            chunk = texts[start : start + _IN]
            marks = ", ".join("?" * len(chunk))
            known = fetch_rows(
                self.session,
                "SELECT normalized, id, building_code FROM address "
                f"WHERE normalized IN ({marks}) ORDER BY id DESC",
                chunk,
            )
            self._ids.update({text: (aid, code) for text, aid, code in known})

    def get(self, text: str | None) -> tuple[int, str | None] | None:
        """(address id, building code) of an address ``resolve`` has seen."""
        return self._ids.get(text[:300]) if text else None


_GRID_SQL = "SELECT code, level, parent_code FROM grid_unit"
