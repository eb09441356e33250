"""Daily reading files as the companies drop them: CSV in GB18030 or XML, each with a
JSON manifest written last (file name, row count, sha256), and the faults real drops have.

A file is written under a hidden ``.part`` name and renamed when complete; the manifest
follows the same way, so a reader never sees half a file under its final name — unless a
fault says otherwise. Faults (``FAULTS``):

* ``wrong_checksum`` — the manifest's sha256 does not match the file;
* ``wrong_encoding`` — a CSV written in UTF-8 while its manifest says GB18030; an XML
  written in GB18030 while its declaration says UTF-8;
* ``truncated_row`` — the export stopped inside the last row; the manifest's checksum is
  of what was written, its row count what should have been;
* ``missing_manifest`` — the data file without its manifest;
* ``bad_value`` — one row's usage is not a number (a row problem, not a file problem);
* ``doctype`` — an XML with a DOCTYPE declaring entities (a parser must refuse it).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

from simulators.utility.data import Reading

__all__ = [
    "COMPANIES",
    "CSV_HEADER",
    "FAULTS",
    "FORMATS",
    "file_name",
    "manifest_name",
    "write_file",
]

CSV_HEADER = ("户号", "户名", "联系电话", "地址", "表号", "抄表日期", "本期用量", "本期示数")
COMPANIES = {
    "water": "杭州市水务集团有限公司",
    "power": "国网浙江省电力有限公司杭州供电公司",
    "gas": "杭州市燃气集团有限公司",
}
FORMATS = {"water": "csv", "power": "xml", "gas": "csv"}
FAULTS = frozenset(
    {
        "wrong_checksum",
        "wrong_encoding",
        "truncated_row",
        "missing_manifest",
        "bad_value",
        "doctype",
    }
)


def file_name(kind: str, day: date, fmt: str, seq: int = 0) -> str:
    suffix = f"_{seq}" if seq else ""
    return f"{kind}_{day:%Y%m%d}{suffix}.{fmt}"


def manifest_name(data_name: str) -> str:
    return f"{data_name}.manifest.json"


class _Hashing(io.RawIOBase):
    """A binary sink that hashes and counts what passes through to the file."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.sha = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.sha.update(chunk)
        self.out.write(chunk)
        return len(chunk)


def _lookahead(rows: Iterable[Reading]) -> Iterator[tuple[Reading, bool]]:
    """Each reading with whether it is the last one."""
    it = iter(rows)
    try:
        prev = next(it)
    except StopIteration:
        return
    for row in it:
        yield prev, False
        prev = row
    yield prev, True


def _fields(r: Reading, bad: bool) -> list[str]:
    a = r.account
    usage = "--" if bad else f"{r.usage:.3f}"
    return [a.account, a.holder, a.phone or "", a.address, a.meter_no, r.day.isoformat(),
            usage, f"{r.meter_reading:.3f}"]  # fmt: skip


def _write_csv(sink: _Hashing, rows: Iterable[Reading], encoding: str, fault: str | None) -> int:
    text = io.TextIOWrapper(io.BufferedWriter(sink), encoding=encoding, newline="")
    writer = csv.writer(text)
    writer.writerow(CSV_HEADER)
    count = 0
    for reading, last in _lookahead(rows):
        count += 1
        fields = _fields(reading, fault == "bad_value" and count == 3)
        if last and fault == "truncated_row":
            line = io.StringIO()
            csv.writer(line).writerow(fields)
            text.write(line.getvalue()[: len(line.getvalue()) // 2])
        else:
            writer.writerow(fields)
    text.flush()
    text.detach().flush()
    return count


def _xml_row(r: Reading, bad: bool) -> str:
    f = _fields(r, bad)
    return (
        f"  <Reading><AccountNo>{escape(f[0])}</AccountNo><HolderName>{escape(f[1])}</HolderName>"
        f"<Phone>{escape(f[2])}</Phone><Address>{escape(f[3])}</Address>"
        f"<MeterNo>{escape(f[4])}</MeterNo><ReadingDate>{f[5]}</ReadingDate>"
        f"<Usage>{f[6]}</Usage><MeterReading>{f[7]}</MeterReading></Reading>\n"
    )


def _write_xml(
    sink: _Hashing, rows: Iterable[Reading], kind: str, day: date, fault: str | None
) -> int:
    body = "gb18030" if fault == "wrong_encoding" else "utf-8"
    head = '<?xml version="1.0" encoding="UTF-8"?>\n'
    if fault == "doctype":
        head += '<!DOCTYPE MeterReadings [<!ENTITY company "国网">]>\n'
    head += f'<MeterReadings company="{COMPANIES[kind]}" kind="{kind}" date="{day.isoformat()}">\n'
    sink.write(head.encode(body))
    count = 0
    for reading, last in _lookahead(rows):
        count += 1
        row = _xml_row(reading, fault == "bad_value" and count == 3).encode(body)
        sink.write(row[: len(row) // 2] if last and fault == "truncated_row" else row)
    if fault != "truncated_row":
        sink.write(b"</MeterReadings>\n")
    return count


def write_file(
    inbox: Path,
    kind: str,
    day: date,
    rows: Iterable[Reading],
    *,
    fmt: str | None = None,
    fault: str | None = None,
    seq: int = 0,
) -> Path:
    """Write one company's file for ``day`` (and its manifest) into ``inbox``."""
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r} (known: {sorted(FAULTS)})")
    fmt = fmt or FORMATS[kind]
    name = file_name(kind, day, fmt, seq)
    inbox.mkdir(parents=True, exist_ok=True)
    part = inbox / f".{name}.part"
    declared = "GB18030" if fmt == "csv" else "UTF-8"
    with part.open("wb") as out:
        sink = _Hashing(out)
        if fmt == "csv":
            encoding = "utf-8" if fault == "wrong_encoding" else "gb18030"
            count = _write_csv(sink, rows, encoding, fault)
        else:
            count = _write_xml(sink, rows, kind, day, fault)
        digest = sink.sha.hexdigest()
    os.replace(part, inbox / name)
    if fault == "missing_manifest":
        return inbox / name
    if fault == "wrong_checksum":
        digest = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    manifest = {
        "file": name,
        "kind": kind,
        "company": COMPANIES[kind],
        "format": fmt,
        "encoding": declared,
        "reading_date": day.isoformat(),
        "rows": count,
        "sha256": digest,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    mpart = inbox / f".{manifest_name(name)}.part"
    mpart.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(mpart, inbox / manifest_name(name))
    return inbox / name
