"""A real, minimal source for engine tests: a JSON-lines file read from a line cursor.

Lines that are not JSON arrive as bytes (quarantined whole); ``fail_after`` makes the source
go down part-way; ``GRIDHUB_TEST_KILL_AT`` makes the process kill -9 itself at that line, as a
crash in the middle of a batch would.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from adapters.contract import (
    Adapter,
    Extracted,
    Mapped,
    RecordRejected,
    SourceUnavailable,
    Stream,
)


class LinesStream(Stream):
    name = "people"
    primary_key = ("key",)
    cursor_field = "line"

    def __init__(self, path: Path, fail_after: int | None = None) -> None:
        self.path = path
        self.fail_after = fail_after

    def extract(self, cursor: Mapping[str, Any]) -> Iterator[Extracted]:
        start = int(cursor.get("line", 0))
        kill_at = int(os.environ.get("GRIDHUB_TEST_KILL_AT", "0"))
        with self.path.open("rb") as fh:
            for number, line in enumerate(fh, start=1):
                if number <= start:
                    continue
                if self.fail_after is not None and number > self.fail_after:
                    raise SourceUnavailable("source went away")
                if kill_at and number == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                raw: Mapping[str, Any] | bytes
                try:
                    raw = json.loads(line)
                except ValueError:
                    raw = line.rstrip(b"\n")
                yield Extracted(raw=raw, cursor={"line": number})

    def map(self, item: Extracted) -> Mapped:
        if isinstance(item.raw, bytes):
            raise RecordRejected("schema.not_json", "line is not a JSON object")
        if "boom" in item.raw:
            raise ZeroDivisionError("mapper bug")
        key = item.raw.get("key")
        if not key:
            raise RecordRejected("schema.missing_key", "record has no key")
        if item.raw.get("bad"):
            raise RecordRejected("value.bad", "record marked bad", source_key=str(key))
        return Mapped(
            source_key=str(key), payload=item.raw, canonical={"name": item.raw.get("name")}
        )


class LinesAdapter(Adapter):
    name = "lines"

    def __init__(self, path: Path, fail_after: int | None = None) -> None:
        self._stream = LinesStream(path, fail_after)

    def streams(self) -> Sequence[Stream]:
        return [self._stream]

    def check_connection(self) -> tuple[bool, str | None]:
        if self._stream.path.exists():
            return True, None
        return False, "file not found"


def write_lines(path: Path, records: list[dict[str, Any] | str]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")


def append_lines(path: Path, records: list[dict[str, Any] | str]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        for r in records:
            fh.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
