"""Entries as plain records: streamed from the store, written to and read from files.

One record shape everywhere — the :data:`~audit.canonical.FIELDS` plus ``entry_hash``, with
``at`` already in its canonical text form — so the verifier hashes exactly what it reads,
whether that came from the live table, an export or a gzip archive.

File layout (JSONL, one object per line, each with a ``type``): one ``header``, then ``jwks``,
then the ``checkpoint`` lines, then the ``entry`` lines in seq order. Checkpoints come before
entries so a verifier can check them in a single streaming pass. The CSV form has the same
records, one per row: entry columns for entries, a ``json`` column for the others; an empty
cell is null (``append`` never stores empty strings, so nothing is lost).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Final

from sqlalchemy import String, Text, cast, select, type_coerce
from sqlalchemy.orm import Session

from audit.canonical import FIELDS, parse_rfc3339, rfc3339
from canonical_model import AuditCheckpoint, ExchangeLogEntry

ENTRY_KEYS: Final = frozenset((*FIELDS, "entry_hash"))
CSV_COLUMNS: Final = ("record", *FIELDS, "entry_hash", "json")
# Cells a spreadsheet would treat as a formula (CSV injection) are written with a leading "'";
# "'" itself is in the set so the escape is reversible.
_FORMULA: Final = ("=", "+", "-", "@", "\t", "\r", "'")
_NULLABLE: Final = frozenset({"actor_role", "purpose", "payload_sha256", "correlation_id"})
_T = ExchangeLogEntry.__table__.c
_AT: Final = FIELDS.index("at")
# direction as plain text (no enum objects built a million times); ``at`` raw on SQLite, where
# it is stored as "YYYY-MM-DD HH:MM:SS.ffffff" text and a string splice beats a datetime.
_NAMES: Final = (*FIELDS, "entry_hash")
_REFS: Final = FIELDS.index("object_refs")
# Read as text and decoded here: direction without building enum objects, ``at`` spliced from
# SQLite's "YYYY-MM-DD HH:MM:SS.ffffff" text, object_refs through the C scanner directly.
# A million rows make each of these visible.
_COLUMNS: Final = tuple(
    type_coerce(_T[f], String)
    if f == "direction"
    else cast(_T[f], Text)
    if f == "object_refs"
    else _T[f]
    for f in _NAMES
)
_SQLITE_COLUMNS: Final = tuple(
    type_coerce(_T[f], String) if f in ("direction", "at", "object_refs") else _T[f] for f in _NAMES
)
_dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _json(text: Any) -> Any:
    """Decode stored JSON text; whatever is not clean JSON is returned as found (it will then
    fail to hash to the stored value, i.e. be reported)."""
    if isinstance(text, str):
        try:
            value, end = _scan(text, 0)
            if end == len(text):
                return value
            return json.loads(text)
        except (ValueError, StopIteration, RecursionError):
            return text
    return text


def _sqlite_at(raw: Any) -> str:
    if isinstance(raw, str) and len(raw) == 26 and raw[10] == " ":
        return f"{raw[:10]}T{raw[11:]}Z"
    try:  # not the format the hub writes: normalise if it is a time at all
        return rfc3339(parse_rfc3339(str(raw)) if isinstance(raw, str) else raw)
    except (TypeError, ValueError, AttributeError):
        return str(raw)  # hashed as found, so it fails to match


def _at(raw: Any) -> str:
    try:
        return rfc3339(raw)
    except (TypeError, ValueError, AttributeError):
        return str(raw)


def iter_rows(
    session: Session,
    first_seq: int | None = None,
    last_seq: int | None = None,
    *,
    batch: int = 5000,
) -> Iterator[list[Any]]:
    """Entries in seq order as lists (FIELDS order, then entry_hash), ``at`` canonical.

    Streamed: a server-side cursor on PostgreSQL, ``yield_per`` batches on SQLite; never the
    whole log in memory.
    """
    sqlite = session.get_bind().dialect.name == "sqlite"
    stmt = select(*(_SQLITE_COLUMNS if sqlite else _COLUMNS)).order_by(_T.seq)
    if first_seq is not None:
        stmt = stmt.where(_T.seq >= first_seq)
    if last_seq is not None:
        stmt = stmt.where(_T.seq <= last_seq)
    fix_at = _sqlite_at if sqlite else _at
    for row in session.execute(stmt.execution_options(yield_per=batch)):
        values = list(row)
        values[_AT] = fix_at(values[_AT])
        values[_REFS] = _json(values[_REFS])
        yield values


def iter_entries(
    session: Session,
    first_seq: int | None = None,
    last_seq: int | None = None,
    *,
    batch: int = 5000,
) -> Iterator[dict[str, Any]]:
    """Entries as records (FIELDS + entry_hash), in seq order, streamed."""
    for values in iter_rows(session, first_seq, last_seq, batch=batch):
        yield dict(zip(_NAMES, values, strict=True))


def iter_checkpoints(
    session: Session, first_seq: int | None = None, last_seq: int | None = None
) -> Iterator[dict[str, Any]]:
    stmt = select(AuditCheckpoint).order_by(AuditCheckpoint.seq, AuditCheckpoint.id)
    if first_seq is not None:
        stmt = stmt.where(AuditCheckpoint.seq >= first_seq)
    if last_seq is not None:
        stmt = stmt.where(AuditCheckpoint.seq <= last_seq)
    for cp in session.scalars(stmt):
        yield checkpoint_record(cp)


def checkpoint_record(cp: AuditCheckpoint) -> dict[str, Any]:
    return {
        "seq": cp.seq,
        "entry_hash": cp.entry_hash,
        "at": rfc3339(cp.at),
        "kid": cp.kid,
        "jws": cp.jws,
    }


# -- writing --------------------------------------------------------------------------------


class RecordWriter:
    """Writes header, jwks, checkpoints and entries in the order the verifier expects."""

    def __init__(self, out: IO[str], fmt: str) -> None:
        if fmt not in ("jsonl", "csv"):
            raise ValueError("format must be jsonl or csv")
        self.fmt = fmt
        self._out = out
        self._csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(CSV_COLUMNS)

    def other(self, kind: str, body: dict[str, Any]) -> None:
        if self._csv is None:
            self._out.write(_dumps({"type": kind, **body}) + "\n")
        else:
            row = [kind] + [""] * (len(CSV_COLUMNS) - 2) + [_dumps(body)]
            self._csv.writerow(row)

    def entry(self, entry: dict[str, Any]) -> None:
        if self._csv is None:
            self._out.write(_dumps({"type": "entry", **entry}) + "\n")
            return
        cells: list[Any] = ["entry"]
        for name in (*FIELDS, "entry_hash"):
            value = entry[name]
            if name == "object_refs":
                value = _dumps(value)
            elif isinstance(value, str) and value.startswith(_FORMULA):
                value = "'" + value  # a spreadsheet must not run it; undone on reading
            cells.append("" if value is None else value)
        cells.append("")
        self._csv.writerow(cells)


# -- reading --------------------------------------------------------------------------------


class MalformedRecord(Exception):
    """A line or row that is not a record of this format; carries its 1-based line number."""

    def __init__(self, line: int, why: str) -> None:
        super().__init__(f"line {line}: {why}" if line else why)
        self.line = line


def open_text(path: Path) -> IO[str]:
    """A text reader for a plain or gzip file (told apart by the magic bytes, not the name)."""
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def read_records(stream: IO[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(type, body)`` pairs from a JSONL or CSV export; entry bodies are verifier-ready."""
    first = stream.readline()
    if first.startswith("record,"):
        yield from _read_csv(stream, first)
        return
    line_no = 0
    for line in _chain(first, stream):
        line_no += 1
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            raise MalformedRecord(line_no, "not JSON") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            raise MalformedRecord(line_no, "no record type")
        yield obj.pop("type"), obj


def _chain(first: str, rest: IO[str]) -> Iterator[str]:
    if first:
        yield first
    yield from rest


def _read_csv(stream: IO[str], header_line: str) -> Iterator[tuple[str, dict[str, Any]]]:
    header = next(csv.reader([header_line]))
    if tuple(header) != CSV_COLUMNS:
        raise MalformedRecord(1, "unexpected CSV columns")
    for row_no, row in enumerate(csv.reader(stream), start=2):
        if len(row) != len(CSV_COLUMNS):
            raise MalformedRecord(row_no, "wrong number of cells")
        kind = row[0]
        if kind != "entry":
            try:
                body = json.loads(row[-1])
            except ValueError:
                raise MalformedRecord(row_no, "json cell is not JSON") from None
            if not isinstance(body, dict):
                raise MalformedRecord(row_no, "json cell is not an object")
            yield kind, body
            continue
        entry: dict[str, Any] = {}
        for name, cell in zip((*FIELDS, "entry_hash"), row[1:-1], strict=True):
            try:
                entry[name] = _cell(name, cell)
            except ValueError:
                raise MalformedRecord(row_no, f"bad {name}") from None
        yield "entry", entry


def _cell(name: str, cell: str) -> Any:
    if name in ("seq", "record_count"):
        return int(cell)
    if name == "object_refs":
        return json.loads(cell)
    if cell == "" and name in _NULLABLE:
        return None
    if cell.startswith("'") and cell[1:].startswith(_FORMULA):
        return cell[1:]
    return cell
