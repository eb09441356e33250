"""The district's civil-affairs (民政) database, for tests, the benchmark and the demo.

A real database reached over real ODBC drivers: a SQLite file (GB18030 text, as legacy
民政 systems keep it; the SQLite3 driver) or a PostgreSQL database of its own (the
PostgreSQL Unicode driver). Five tables — 低保 ``dibao``, 特困 ``tekun``, 高龄补贴
``elderly_allowance``, 残疾 ``disability`` and 死亡登记 ``deaths`` — filled from
``District.view("civil_affairs")`` with the clerks' errors, plus knobs to change rows,
write text in the wrong encoding, lock the database and take it away::

    sim = CivilAffairsSimulator.sqlite("var/civil_affairs.db")
    sim.build(persons=5_000)
    sim.touch(10)                  # ten clerk corrections, one stamp
    with sim.lock():               # 'database is locked' for every reader
        ...
    with sim.offline():            # unreachable
        ...
"""

from simulators.civil_affairs.control import BuildReport, CivilAffairsSimulator
from simulators.civil_affairs.database import Lock, PostgresDatabase, SqliteDatabase
from simulators.civil_affairs.rows import CATEGORY_TABLES, MIGRATED_AT
from simulators.civil_affairs.schema import TABLES

__all__ = [
    "CATEGORY_TABLES",
    "MIGRATED_AT",
    "TABLES",
    "BuildReport",
    "CivilAffairsSimulator",
    "Lock",
    "PostgresDatabase",
    "SqliteDatabase",
]
