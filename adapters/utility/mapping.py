"""Utility rows → account records (canonical persons) and narrow reading rows.

An account's holder is a person for resolution — often a family member of the people who
live there, sometimes someone who has died — so the account maps through ``person_fields``
with what the company knows (name, phone, address) and the account in ``facts``. A reading
is not a source record: it becomes a row of ``utility_reading``, upserted on its unique
key (kind, account, day) so a re-loaded file overwrites instead of duplicating.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from adapters.canonical import person_fields
from adapters.contract import Extracted, Mapped, RecordRejected
from adapters.utility.parsing import Good, join_holding, split_holding
from canonical_model import SourceRecord
from canonical_model.utility import UtilityReading
from canonical_model.values import InvalidValue, normalize_address

__all__ = [
    "ReadingRow",
    "StoredAccount",
    "account_key",
    "account_payload",
    "map_record",
    "normalized_address",
    "stored_accounts",
    "upsert_readings",
]

#: The holding as stored (``parsing.Good``'s last field, built from the stored payload), and
#: the stored canonical address.
StoredAccount = tuple[str, str | None]
_KEY_CHUNK = 400


def account_key(kind: str, account: str) -> str:
    return f"{kind}:{account}"


def account_payload(kind: str, row: Good) -> dict[str, Any]:
    """What the company says about the account: the source record's payload."""
    holder, phone, address, meter_no = split_holding(row[4])
    return {
        "kind": kind,
        "account": row[0],
        "holder": holder,
        "phone": phone,
        "address": address,
        "meter_no": meter_no,
    }


def map_record(item: Extracted) -> Mapped:
    raw = item.raw
    if not isinstance(raw, Mapping):
        raise RecordRejected("schema.unparseable", "not a utility record")
    problem = raw.get("problem")
    if isinstance(problem, Mapping):  # a refused file or a bad row, kept in quarantine
        raise RecordRejected(
            str(problem["code"]), str(problem["reason"]), source_key=item.source_key
        )
    canonical = person_fields(
        name=raw.get("holder"),
        phone=raw.get("phone"),
        address=raw.get("address"),
        facts={
            "utility_account": {
                "kind": raw.get("kind"),
                "account": raw.get("account"),
                "meter_no": raw.get("meter_no") or None,
                "role": "account_holder",
            }
        },
    )
    key = account_key(str(raw["kind"]), str(raw["account"]))
    return Mapped(source_key=key, payload=raw, canonical=canonical)


@lru_cache(maxsize=65_536)
def normalized_address(text: str) -> str | None:
    """The address as a person record holds it (``person_fields``' normal form)."""
    text = text.strip()
    if not text:
        return None
    try:
        return normalize_address(text)
    except InvalidValue:
        return text


_FIELDS = ("holder", "phone", "address", "meter_no")


def _lookup_sql(dialect: str, paramstyle: str, n: int) -> str:
    if dialect == "postgresql":
        columns = [f"payload->>'{f}'" for f in _FIELDS] + ["canonical->>'address'"]
    else:  # one call, one JSON array: half the cost of one json_extract per field
        paths = ", ".join(f"'$.{f}'" for f in _FIELDS)
        columns = [f"json_extract(payload, {paths})", "json_extract(canonical, '$.address')"]
    mark = "?" if paramstyle == "qmark" else "%s"
    return (
        f"SELECT source_key, {', '.join(columns)} FROM {SourceRecord.__tablename__} "
        f"WHERE source = {mark} AND stream = {mark} AND source_key IN ({', '.join([mark] * n)})"
    )


def stored_accounts(session: Session, keys: Iterable[str]) -> dict[str, StoredAccount]:
    """The stored holding and canonical address of these accounts: an equal holding means
    an equal payload (the key fixes kind and account), so no hash is needed.

    Plain driver SQL: rendering an expanding IN through the ORM costs more per key than
    the lookup itself, and this runs for every account of a day's first file.
    """
    found: dict[str, StoredAccount] = {}
    wanted = list(keys)
    connection = session.connection()
    dialect, style = connection.dialect.name, connection.dialect.paramstyle
    packed = dialect != "postgresql"  # the fields come as one JSON array (``_lookup_sql``)
    cursor = connection.connection.cursor()  # the driver's own: no per-row result objects
    try:
        for i in range(0, len(wanted), _KEY_CHUNK):
            chunk = wanted[i : i + _KEY_CHUNK]
            cursor.execute(_lookup_sql(dialect, style, len(chunk)), ("utility", "accounts", *chunk))
            for key, *fields, canonical_address in cursor.fetchall():
                if packed:
                    fields = json.loads(fields[0])
                found[key] = (join_holding(fields), canonical_address)
    finally:
        cursor.close()
    return found


#: (kind, account, reading_date ISO, usage, meter_reading, address_normalized, source_file)
ReadingRow = tuple[str, str, str, float, float | None, str | None, str]
_COLUMNS = ("kind", "account", "reading_date", "usage", "meter_reading",
            "address_normalized", "source_file")  # fmt: skip


#: Readings per statement on SQLite (7 × 100 = 700 parameters, far below its limit).
_ROWS_PER_STATEMENT = 100


def _upsert_sql(marks: str, rows: int) -> str:
    values = ", ".join([f"({marks})"] * rows)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[3:])
    return (
        f"INSERT INTO {UtilityReading.__tablename__} ({', '.join(_COLUMNS)}) VALUES {values} "
        f"ON CONFLICT (kind, reading_date, account) DO UPDATE SET {updates}"
    )


def upsert_readings(session: Session, rows: Sequence[ReadingRow]) -> None:
    """Insert readings, overwriting the same account's reading for the same day.

    Straight to the driver's ``executemany``: per-row parameter processing in the ORM
    would cost more than the insert itself. Dates go as ISO text, which is how SQLAlchemy
    stores ``Date`` on SQLite and what PostgreSQL casts to ``date``.

    On SQLite a statement carries ``_ROWS_PER_STATEMENT`` readings: the driver's cost per
    execution (bind, step, reset, ~3 µs) was more than the insert itself; its rows apply
    in order, so a reading repeated in one file still ends as its last value. PostgreSQL
    refuses a row updated twice by one statement, so there each reading is its own.
    """
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.paramstyle != "qmark":
        marks = ", ".join("%s" for _ in _COLUMNS)
        connection.exec_driver_sql(_upsert_sql(marks, 1), list(rows))
        return
    marks = ", ".join("?" for _ in _COLUMNS)
    n = _ROWS_PER_STATEMENT
    whole = len(rows) - len(rows) % n
    flat = itertools.chain.from_iterable
    if whole:
        groups = [tuple(flat(rows[i : i + n])) for i in range(0, whole, n)]
        connection.exec_driver_sql(_upsert_sql(marks, n), groups)
    if whole < len(rows):
        connection.exec_driver_sql(_upsert_sql(marks, 1), list(rows[whole:]))
