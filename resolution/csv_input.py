"""Reading district CSV extracts into the engine's record table, surviving bad rows.

Extracts come from many systems: Excel exports in GB18030, stray quotes, a row with a
comma in an unquoted address.  One bad row must not cost the whole run, and the report
must let the clerk find it without the report itself leaking personal data, so problems
are reported as ``file:line: reason`` only, never with cell contents.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from resolution.profile import Profile

__all__ = ["InputProblem", "ReadResult", "read_csv_records"]

_ENCODINGS = ("utf-8-sig", "gb18030")


@dataclass(frozen=True)
class InputProblem:
    file: str
    line: int  # 1-based physical line where the record starts; 0 for whole-file problems
    reason: str

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}: {self.reason}"
            if self.line
            else f"{self.file}: {self.reason}"
        )


@dataclass
class ReadResult:
    records: pd.DataFrame
    problems: list[InputProblem] = field(default_factory=list)
    rows_per_file: dict[str, int] = field(default_factory=dict)


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    for encoding in _ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


def _rows(text: str) -> Iterator[tuple[int, list[str] | None, str]]:
    """(start line, cells or None, error) for each record, continuing past parse errors."""
    lines = text.splitlines(keepends=True)
    reader = csv.reader(lines, skipinitialspace=True, strict=True)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            msg = str(exc).split(":")[0]  # csv messages can quote the data after a colon
            yield start, None, f"unparseable row ({msg})"
            start = reader.line_num + 1
            continue
        yield start, row, ""
        start = reader.line_num + 1


def read_csv_records(
    paths: Sequence[Path],
    profile: Profile,
    report: Callable[[InputProblem], None] | None = None,
) -> ReadResult:
    """The records of all ``paths`` as one table with ``source`` and ``source_key``.

    ``source`` is the profile's source column where filled, else the file stem;
    ``source_key`` the key column where filled, else ``L<line>`` so every row can still be
    named in the output.  Columns the profile does not use are dropped at once.
    """
    problems: list[InputProblem] = []

    def problem(p: InputProblem) -> None:
        problems.append(p)
        if report is not None:
            report(p)

    frames = []
    counts: dict[str, int] = {}
    wanted = [*profile.columns]
    for path in paths:
        text = _decode(path)
        rows = _rows(text)
        header: list[str] | None = None
        for _line, cells, _err in rows:
            if cells:
                header = [h.strip().lstrip("\ufeff") for h in cells]
                break
        if header is None:
            problem(InputProblem(path.name, 0, "empty file"))
            continue
        missing = [c for c in (*wanted, profile.key_column) if c not in header]
        if profile.key_column in missing:
            if profile.source_column is None:  # the key is the only identity FEBRL rows have
                problem(InputProblem(path.name, 1, f"no {profile.key_column!r} column: skipped"))
                continue
            reason = f"no {profile.key_column!r} column: rows are keyed by line number"
            problem(InputProblem(path.name, 1, reason))
        position = {name: i for i, name in enumerate(header)}
        take = [c for c in (*wanted, profile.key_column, profile.source_column or "") if c]
        take = list(dict.fromkeys(take))
        data: dict[str, list[str]] = {c: [] for c in take}
        data["_line"] = []
        for line, cells, err in rows:
            if cells is None:
                problem(InputProblem(path.name, line, err))
                continue
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # blank line
            if len(cells) != len(header):
                reason = f"expected {len(header)} fields, found {len(cells)}"
                problem(InputProblem(path.name, line, reason))
                continue
            for c in take:
                i = position.get(c)
                data[c].append(cells[i].strip() if i is not None else "")
            data["_line"].append(str(line))
        frame = pd.DataFrame(data, dtype=object)
        stem = path.stem
        src = frame.get(profile.source_column) if profile.source_column else None
        frame["source"] = stem if src is None else src.where(src != "", stem)
        key = frame[profile.key_column]
        frame["source_key"] = key.where(key != "", "L" + frame["_line"])
        counts[path.name] = len(frame)
        frames.append(frame.drop(columns=["_line"]))
    records = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["source", "source_key", *wanted])
    )
    return ReadResult(records, problems, counts)


def print_problem(p: InputProblem) -> None:
    print(str(p), file=sys.stderr)
