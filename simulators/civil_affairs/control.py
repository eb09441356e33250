"""``CivilAffairsSimulator``: build the database from a district, then change it as clerks do.

Every change is stamped by a logical clock — one second after the newest stamp in the
database — so runs are deterministic and the rows of one change share one stamp, the way a
batch job or a single save stamps them. A change can be given an explicit, older stamp
(``at=``) to play a transaction that commits late.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from simulators.civil_affairs.database import (
    TEXT_ENCODING,
    Database,
    Lock,
    PostgresDatabase,
    SqliteDatabase,
)
from simulators.civil_affairs.rows import MIGRATED_AT, district_rows
from simulators.civil_affairs.schema import TABLES
from simulators.district import District

__all__ = ["BuildReport", "CivilAffairsSimulator"]

_BATCH = 5000


@dataclass(slots=True)
class BuildReport:
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    bad_encoding: int = 0
    #: case_no → person_key: the truth, for scoring resolution; never given to gridhub.
    truth: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


class CivilAffairsSimulator:
    """One civil-affairs database (SQLite file or PostgreSQL database) and its knobs."""

    def __init__(self, database: Database, *, seed: int = 7) -> None:
        self.db = database
        self.seed = seed
        self._changes = 0

    @classmethod
    def sqlite(cls, path: Path | str, *, seed: int = 7) -> CivilAffairsSimulator:
        return cls(SqliteDatabase(path), seed=seed)

    @classmethod
    def postgresql(cls, dbname: str, *, seed: int = 7, **server: Any) -> CivilAffairsSimulator:
        return cls(PostgresDatabase(dbname, **server), seed=seed)

    @property
    def connection_string(self) -> str:
        return self.db.connection_string

    # -- building --------------------------------------------------------------------
    def build(
        self,
        district: District | None = None,
        *,
        persons: int = 2000,
        bad_encoding: float = 0.0,
        keep_truth: bool = False,
    ) -> BuildReport:
        """Create the schema and fill it from ``district`` (or a new one of ``persons``).

        ``bad_encoding`` is the share of rows whose name a newer client wrote in UTF-8 or
        a fixed-width field cut in the middle of a character (SQLite only).
        """
        district = district or District(persons=persons, seed=self.seed)
        if bad_encoding and self.db.kind != "sqlite":
            raise ValueError("only the SQLite file can hold text in the wrong encoding")
        rng = random.Random(f"{self.seed}:civil_affairs:encoding")
        self.db.create()
        report = BuildReport()
        ids = dict.fromkeys(TABLES, 0)
        pending: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
        for sim_row in district_rows(district):
            ids[sim_row.table] += 1
            values = {"id": ids[sim_row.table], **sim_row.values}
            if bad_encoding and values.get("name") and rng.random() < bad_encoding:
                values["name"] = _misencode(values["name"], rng.random() < 0.5)
                report.bad_encoding += 1
            if keep_truth:
                report.truth[values["case_no"]] = sim_row.person_key
            batch = pending[sim_row.table]
            batch.append(values)
            if len(batch) >= _BATCH:
                self.db.insert(sim_row.table, batch)
                batch.clear()
        for table, batch in pending.items():
            self.db.insert(table, batch)
        report.rows = ids
        return report

    # -- changes ---------------------------------------------------------------------
    def next_stamp(self) -> datetime:
        """One second after the newest stamp anywhere in the database."""
        newest = MIGRATED_AT
        for table in TABLES:
            value = self.db.scalar(f"SELECT MAX(updated_at) FROM {table}")
            if value is not None:
                stamp = value if isinstance(value, datetime) else datetime.fromisoformat(value)
                newest = max(newest, stamp)
        return newest + timedelta(seconds=1)

    def _rng(self, what: str) -> random.Random:
        self._changes += 1
        return random.Random(f"{self.seed}:{what}:{self._changes}")

    def _pick(self, table: str, n: int, rng: random.Random, status: str | None = None) -> list[int]:
        rows = self.db.select(table, ["id", "status"], "ORDER BY id")
        ids = [int(r["id"]) for r in rows if status is None or r["status"] == status]
        if n > len(ids):
            raise ValueError(f"{table} has {len(ids)} such rows, not {n}")
        return sorted(rng.sample(ids, n))

    def touch(
        self,
        n: int,
        table: str = "dibao",
        *,
        bump_only: bool = False,
        at: datetime | None = None,
        ids: Sequence[int] | None = None,
    ) -> list[int]:
        """Change the phone of ``n`` random rows (or of rows ``ids``: a clerk's correction)
        and stamp them; with ``bump_only`` only the stamp moves (a save that changed
        nothing). Returns the ids."""
        rng = self._rng("touch")
        stamp = at or self.next_stamp()
        chosen = sorted(ids) if ids is not None else self._pick(table, n, rng)
        for row_id in chosen:
            values: dict[str, Any] = {"updated_at": stamp}
            if not bump_only:
                values["phone"] = f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
            self.db.update(table, row_id, values)
        return chosen

    def add_deaths(self, n: int) -> list[str]:
        """``n`` recipients of the elderly allowance die: a death registration each, and
        their allowance stopped. Returns the new case numbers."""
        rng = self._rng("deaths")
        stamp = self.next_stamp()
        chosen = self._pick("elderly_allowance", n, rng, status="在册")
        columns = ["id", "case_no", "name", "id_number", "gender", "birth_date", "phone", "address"]
        people = {int(r["id"]): r for r in self.db.select("elderly_allowance", columns)}
        next_id = int(self.db.scalar("SELECT MAX(id) FROM deaths") or 0)
        rows, cases = [], []
        for offset, row_id in enumerate(chosen, 1):
            person = people[row_id]
            case_no = f"MN{next_id + offset:09d}06"
            died = stamp.date() - timedelta(days=rng.randrange(1, 10))
            rows.append(
                {
                    **{c: person[c] for c in columns[1:]},
                    "id": next_id + offset,
                    "case_no": case_no,
                    "death_date": died,
                    "death_place": rng.choice(("医院", "家中")),
                    "registered_on": stamp.date(),
                    "status": "已故",
                    "updated_at": stamp,
                }
            )
            cases.append(case_no)
            self.db.update("elderly_allowance", row_id, {"status": "停发", "updated_at": stamp})
        self.db.insert("deaths", rows)
        return cases

    def add_dibao(self, n: int) -> list[str]:
        """``n`` new 低保 approvals, one-person households (people already known to civil
        affairs through their disability record). Returns the new case numbers."""
        rng = self._rng("dibao")
        stamp = self.next_stamp()
        columns = ["case_no", "name", "id_number", "gender", "birth_date", "phone", "address"]
        people = self.db.select("disability", ["id", *columns], "ORDER BY id")
        next_id = int(self.db.scalar("SELECT MAX(id) FROM dibao") or 0)
        rows, cases = [], []
        for offset, person in enumerate(rng.sample(people, n), 1):
            case_no = f"MN{next_id + offset:09d}01"
            rows.append(
                {
                    **{c: person[c] for c in columns[1:]},
                    "id": next_id + offset,
                    "case_no": case_no,
                    "household_no": f"DBN{next_id + offset:08d}",
                    "relation": "户主",
                    "member_count": 1,
                    "monthly_amount": Decimal(rng.randrange(300, 1281, 10)).quantize(
                        Decimal("0.01")
                    ),
                    "approval_date": stamp.date(),
                    "status": "在册",
                    "updated_at": stamp,
                }
            )
            cases.append(case_no)
        self.db.insert("dibao", rows)
        return cases

    def insert_row(self, table: str, **values: Any) -> int:
        """One row as given (missing columns NULL); ``id`` and ``updated_at`` default to the
        next id and the next stamp (pass ``updated_at=None`` for an unstamped row)."""
        row_id = int(
            values.pop("id", None) or (self.db.scalar(f"SELECT MAX(id) FROM {table}") or 0) + 1
        )
        values.setdefault("updated_at", self.next_stamp())
        self.db.insert(table, [{"id": row_id, **values}])
        return row_id

    def corrupt_encoding(
        self,
        n: int,
        table: str = "dibao",
        *,
        utf8: bool = False,
        ids: Sequence[int] | None = None,
    ) -> list[int]:
        """Rewrite the name of ``n`` rows (or of rows ``ids``) in the wrong encoding (SQLite
        only): cut in the middle of a character, or (``utf8``) as a UTF-8 client writes it."""
        if self.db.kind != "sqlite":
            raise ValueError("only the SQLite file can hold text in the wrong encoding")
        rng = self._rng("encoding")
        stamp = self.next_stamp()
        chosen = sorted(ids) if ids is not None else self._pick(table, n, rng)
        names = {int(r["id"]): r["name"] for r in self.db.select(table, ["id", "name"])}
        for row_id in chosen:
            name = names[row_id]
            text = name.decode(TEXT_ENCODING, "replace") if isinstance(name, bytes) else name
            self.db.update(table, row_id, {"name": _misencode(text, utf8), "updated_at": stamp})
        return chosen

    # -- faults ----------------------------------------------------------------------
    def lock(self) -> Lock:
        """Take an exclusive lock from another connection; readers wait until ``release``."""
        return self.db.lock()

    @contextmanager
    def offline(self) -> Iterator[None]:
        """The database is unreachable inside the block (file moved away, or connections
        refused by the server), and back afterwards."""
        self.db.set_online(False)
        try:
            yield
        finally:
            self.db.set_online(True)

    def count(self, table: str) -> int:
        return int(self.db.scalar(f"SELECT COUNT(*) FROM {table}") or 0)

    def rows(self, table: str, columns: Sequence[str] = ("id", "case_no")) -> list[dict[str, Any]]:
        return self.db.select(table, list(columns), "ORDER BY id")


def _misencode(name: str, utf8: bool) -> bytes:
    if utf8:
        return name.encode("utf-8")
    data = name.encode(TEXT_ENCODING)
    return data[:-1] if len(data) > 1 and not name[-1].isascii() else data + b"\xff"
