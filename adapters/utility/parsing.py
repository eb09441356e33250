"""Reading a company's file once: checksum, structure and values in one streaming pass.

A file is loaded whole or not at all, so everything that can condemn it — checksum, encoding,
a truncated or malformed row, a row count that disagrees with the manifest — must be known
before the first reading is stored. One pass settles all of it: the bytes are hashed as
they are read, decoded incrementally (CSV through ``csv`` over a decoding text stream, XML
through lxml's ``iterparse`` with each ``Reading`` cleared once read), and every parsed row
is converted and written to an unlinked temporary spool in chunks, each sorted by account
(the readings' index order; see ``_INDEX_ORDER``). Only a file that passes is loaded, from
the spool, chunk by chunk: nothing is parsed twice and nothing is held whole in memory.

A complete row with a bad value (usage ``--``, an impossible date) does not condemn the
file: it becomes a row problem, quarantined on its own while the other rows load. So does a
row with a NUL character in a field: PostgreSQL text cannot hold one, and a reading that
reached the insert with it would fail the whole checkpoint in the driver.

XML is parsed without DTDs, entity expansion or network access; a document with a DOCTYPE
is refused outright.
"""

from __future__ import annotations

import csv
import hashlib
import io
import marshal
import operator
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import IO, Any

from lxml import etree

__all__ = [
    "FIELDS",
    "FileRejected",
    "Good",
    "Problem",
    "Spool",
    "join_holding",
    "parse_file",
    "split_holding",
]

FIELDS = ("account", "holder", "phone", "address", "meter_no", "reading_date", "usage",
          "meter_reading")  # fmt: skip
_CSV_ALIASES = {
    "户号": "account", "账号": "account", "用户编号": "account", "户名": "holder",
    "用户名称": "holder", "联系电话": "phone", "电话": "phone", "地址": "address",
    "用水地址": "address", "用电地址": "address", "用气地址": "address", "表号": "meter_no",
    "抄表日期": "reading_date", "本期用量": "usage", "用量": "usage", "本期示数": "meter_reading",
    "本期读数": "meter_reading", **{f: f for f in FIELDS},
}  # fmt: skip
_XML_TAGS = {
    "AccountNo": "account", "HolderName": "holder", "Phone": "phone", "Address": "address",
    "MeterNo": "meter_no", "ReadingDate": "reading_date", "Usage": "usage",
    "MeterReading": "meter_reading",
}  # fmt: skip
_REQUIRED = ("account", "reading_date", "usage")
#: libxml2 error code → its name (ERR_TAG_NAME_MISMATCH …): a reason that quotes nothing.
_XML_ERRORS = {v: k for k, v in vars(etree.ErrorTypes).items() if isinstance(v, int)}

#: (account, reading_date ISO, usage, meter reading, holding). The holding is what the row
#: says about the account — holder, phone, address, meter number — joined by NUL, which no
#: good row holds (a field with U+0000 makes its row a problem): one string instead of four,
#: so the loader, which only compares it with the last one seen, unmarshals and compares one
#: object per row instead of four (``split_holding`` gives the fields back).
Good = tuple[str, str, float, float | None, str]
#: (row, reason code, reason, the row's fields as read)
Problem = tuple[int, str, str, dict[str, str]]


class FileRejected(Exception):
    """The file as a whole cannot be loaded; ``reason`` is free of the file's content."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class _HashingReader(io.RawIOBase):
    """Hands the file's bytes to a parser while hashing them and counting lines."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.lines = 0
        self.last = b""
        self.eof = False
        self.nul = False  # a NUL byte seen: rows are checked for U+0000 from then on

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        self._seen(data)
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self._seen(data)
        return data

    def _seen(self, data: bytes) -> None:
        if not data:
            self.eof = True
            return
        self.sha.update(data)
        self.lines += data.count(b"\n")
        self.nul = self.nul or b"\0" in data
        self.last = data[-1:]

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


class Spool:
    """A verified file's parsed rows, in chunks, in an unlinked temporary file."""

    def __init__(
        self, fh: IO[bytes] | None = None, *, chunks: int = 0, rows: int = 0, problems: int = 0
    ) -> None:
        # Unlinked at once: nothing is left behind, even by kill -9.
        self._fh = fh or tempfile.TemporaryFile(prefix="gridhub-utility-")  # noqa: SIM115
        self.chunks = chunks
        self.rows = rows
        self.problems = problems

    def flush(self) -> None:
        self._fh.flush()

    def add(self, good: list[Good], bad: list[Problem]) -> None:
        block = marshal.dumps((good, bad))
        self._fh.write(len(block).to_bytes(8, "little"))
        self._fh.write(block)
        self.chunks += 1
        self.rows += len(good) + len(bad)
        self.problems += len(bad)

    def __iter__(self) -> Iterator[tuple[list[Good], list[Problem]]]:
        self._fh.seek(0)
        for _ in range(self.chunks):
            size = int.from_bytes(self._fh.read(8), "little")
            # One read per chunk: marshal.load on a file reads object by object.
            good, bad = marshal.loads(self._fh.read(size))  # noqa: S302 (our own temp file)
            yield good, bad

    def close(self) -> None:
        self._fh.close()


#: A row as read: the FIELDS in order, "" where the file has no such column or element.
Raw = tuple[str, ...]
_WIDTH = len(FIELDS)
_INF = float("inf")
_NUL_REASON = "a field holds a NUL character (U+0000), which the store cannot hold"
#: A chunk is sorted by account here, in the parse (the worker's CPU, not the loader's): a
#: daily file is one day, so that is the readings' unique index order (kind, day, account)
#: and their insert appends to the index. A plain string key sorts four times faster than
#: a (day, account) tuple would; a chunk of several days is still in order within each day.
_INDEX_ORDER = operator.itemgetter(0)


def split_holding(holding: str) -> tuple[str, str | None, str, str]:
    """(holder, phone or None, address, meter number) of a good row's holding."""
    holder, phone, address, meter_no = holding.split("\0")
    return holder, phone or None, address, meter_no


def join_holding(fields: Iterable[str | None]) -> str:
    """The holding of (holder, phone, address, meter number) as stored: None joins as "",
    as a row without the value does. ``_convert`` builds the same string inline (per row)."""
    return "\0".join([f or "" for f in fields])


def _csv_rows(reader: _HashingReader, encoding: str) -> Iterator[Raw]:
    buffered = io.BufferedReader(reader, 1 << 16)
    text = io.TextIOWrapper(buffered, encoding=encoding, errors="strict", newline="")
    rows = csv.reader(text, strict=True)
    header = [h.strip().lstrip("\ufeff") for h in next(rows, [])]
    position = {
        _CSV_ALIASES[h]: i for i, h in reversed(list(enumerate(header))) if h in _CSV_ALIASES
    }
    if not position:
        raise FileRejected("file.encoding", f"no known column in the header (read as {encoding})")
    missing = [f for f in _REQUIRED if f not in position]
    if missing:
        raise FileRejected("file.header", f"the header lacks {', '.join(missing)}")
    width = len(header)
    # A column the file lacks reads the "" appended to every row (index ``width``).
    pick = operator.itemgetter(*(position.get(f, width) for f in FIELDS))
    short: int | None = None
    for number, row in enumerate(rows, start=1):
        if short is not None:
            raise FileRejected("file.malformed_row", f"row {short} has the wrong number of fields")
        if len(row) != width:
            short = number
            continue
        row.append("")
        yield pick(row)
    if short is not None:
        raise FileRejected("file.truncated_row", f"the last row ({short}) is cut short")
    if reader.last not in (b"\n", b""):
        raise FileRejected("file.truncated_row", "the last row has no line end: the file is cut")


def _xml_rows(reader: _HashingReader) -> Iterator[Raw]:
    events = etree.iterparse(
        reader, events=("end",), tag="{*}Reading", resolve_entities=False, no_network=True,
        load_dtd=False, dtd_validation=False, huge_tree=False, remove_comments=True,
        remove_pis=True,
    )  # fmt: skip
    slots: dict[Any, int] = {}  # element tag as parsed (with its namespace) → field index
    first = True
    for _, element in events:
        if first and element.getroottree().docinfo.doctype:
            raise FileRejected("file.xml_doctype", "the XML declares a DOCTYPE (refused)")
        first = False
        values = [""] * _WIDTH
        for child in element:
            slot = slots.get(child.tag)
            if slot is None:
                tag = child.tag if isinstance(child.tag, str) else ""
                name = _XML_TAGS.get(tag.rpartition("}")[2])
                slot = slots[child.tag] = FIELDS.index(name) if name else -1
            if slot >= 0:
                values[slot] = child.text or ""
        element.clear(keep_tail=False)
        parent = element.getparent()
        if parent is not None:
            while element.getprevious() is not None:
                del parent[0]
        yield tuple(values)
    root = events.root
    if first and root is not None and root.getroottree().docinfo.doctype:
        raise FileRejected("file.xml_doctype", "the XML declares a DOCTYPE (refused)")


def _date(text: str) -> str:
    value = text.strip().replace("/", "-")
    if len(value) == 8 and value.isdigit():
        value = f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return date.fromisoformat(value).isoformat()  # ValueError when impossible


class _BadRow(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(code)
        self.code = code
        self.reason = reason


def _convert(number: int, f: Raw, dates: dict[str, str]) -> Good:
    """A row as read → typed values; ``_BadRow`` when a value cannot be a reading.

    Text fields stay as the company wrote them (the payload is "as received"); only the
    account, a key, is trimmed.
    """
    account = f[0].strip()
    if not account:
        raise _BadRow("reading.account_missing", f"row {number} has no account number")
    day = dates.get(f[5])
    if day is None:
        try:
            day = dates[f[5]] = _date(f[5])
        except ValueError:
            raise _BadRow("reading.date", f"row {number}: the reading date is not a date") from None
    try:
        usage = float(f[6])  # float() itself ignores surrounding whitespace
        meter = float(f[7]) if f[7] else None
    except ValueError:
        usage = meter = -1.0
    if not 0.0 <= usage < _INF or (meter is not None and not 0.0 <= meter < _INF):
        raise _BadRow(
            "reading.quantity", f"row {number}: usage or meter reading is not a number ≥ 0"
        )
    return account, day, usage, meter, f"{f[1]}\0{f[2]}\0{f[3]}\0{f[4]}"


def _spool_rows(source: Iterator[Raw], spool: Spool, chunk: int, reader: _HashingReader) -> int:
    """Convert and spool every row; returns how many rows the file has.

    A row is looked at for U+0000 only once the reader has passed a NUL byte (a block is
    read before its rows are parsed), so a clean file pays one byte search per block.
    """
    good: list[Good] = []
    bad: list[Problem] = []
    dates: dict[str, str] = {}
    count = room = 0
    convert, keep = _convert, good.append
    for fields in source:
        count += 1
        try:
            if reader.nul and any("\0" in value for value in fields):
                raise _BadRow("encoding.nul", f"row {count}: {_NUL_REASON}")
            keep(convert(count, fields, dates))
        except _BadRow as row:
            bad.append((count, row.code, row.reason, dict(zip(FIELDS, fields, strict=True))))
        room += 1
        if room == chunk:
            good.sort(key=_INDEX_ORDER)
            spool.add(good, bad)
            good, bad, room = [], [], 0
            keep = good.append
    if good or bad:
        good.sort(key=_INDEX_ORDER)
        spool.add(good, bad)
    return count


def parse_file(
    path: Path,
    *,
    fmt: str,
    encoding: str,
    sha256: str,
    rows: int,
    chunk: int,
    spool: Spool | None = None,
) -> Spool:
    """Parse and check the whole file; the spool of its rows, or ``FileRejected``."""
    spool = spool or Spool()
    problem: FileRejected | None = None
    count = 0
    with path.open("rb") as raw:
        reader = _HashingReader(raw)
        source = _csv_rows(reader, encoding) if fmt == "csv" else _xml_rows(reader)
        try:
            count = _spool_rows(source, spool, chunk, reader)
        except FileRejected as exc:
            problem = exc
        except UnicodeDecodeError:
            problem = FileRejected("file.encoding", f"bytes that are not {encoding} text")
        except csv.Error as exc:
            problem = FileRejected("file.malformed_row", f"CSV structure: {str(exc)[:80]}")
        except etree.XMLSyntaxError as exc:
            at_end = reader.eof and (exc.lineno or 0) >= reader.lines
            code = "file.truncated_row" if at_end else "file.xml_malformed"
            # libxml2's message quotes the file (tag names, "Bytes: 0xCD 0xF5"): keep its type.
            kind = _XML_ERRORS.get(exc.code, "ERR_UNKNOWN")
            problem = FileRejected(code, f"XML line {exc.lineno}: {kind}")
        reader.drain()
    if reader.sha.hexdigest() != sha256.lower():
        problem = FileRejected("file.checksum_mismatch", "sha256 differs from the manifest's")
    elif problem is None and count != rows:
        problem = FileRejected(
            "file.row_count", f"the manifest says {rows} rows, the file has {count}"
        )
    if problem is not None:
        spool.close()
        raise problem
    return spool
