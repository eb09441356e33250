"""``Commit``: a checkpoint at a point the stream chooses, even with no record pending.

A plain ``Flush`` with nothing pending commits nothing (a quiet Kafka stream would
otherwise write a log entry per empty poll); a ``Commit`` always commits, so a stream that
writes its own rows in ``on_checkpoint`` (utility readings) need not hand over a record.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.contract import Adapter, Extracted, Flush, Mapped, Stream
from adapters.engine import Commit, load_cursor, sync_stream
from canonical_model import ExchangeLogEntry, SourceRecord


class _Scripted(Stream):
    """Yields a fixed script of items; records what each checkpoint handed it."""

    name: ClassVar[str] = "script"
    primary_key: ClassVar[tuple[str, ...]] = ("key",)

    def __init__(self, script: list[Extracted | Flush]) -> None:
        self.script = script
        self.checkpoints: list[list[str]] = []

    def extract(self, cursor: Mapping[str, Any]) -> Iterator[Extracted | Flush]:
        yield from self.script

    def map(self, item: Extracted) -> Mapped:
        raw = item.raw
        assert isinstance(raw, Mapping)
        return Mapped(source_key=str(raw["key"]), payload=raw, canonical={"name": raw["key"]})

    def on_checkpoint(self, session: Session, mapped: Sequence[Mapped]) -> None:
        self.checkpoints.append([m.source_key for m in mapped])


class _Scripts(Adapter):
    name: ClassVar[str] = "scripted"

    def __init__(self, stream: _Scripted) -> None:
        self._stream = stream

    def streams(self) -> Sequence[Stream]:
        return [self._stream]

    def check_connection(self) -> tuple[bool, str | None]:
        return True, None


def _record(key: str, at: int) -> Extracted:
    return Extracted(raw={"key": key}, cursor={"at": at}, source_key=key)


def _log(sessions: sessionmaker[Session]) -> list[int]:
    with sessions() as s:
        entries = s.scalars(select(ExchangeLogEntry).order_by(ExchangeLogEntry.seq)).all()
        return [e.record_count for e in entries]


def test_a_commit_with_nothing_pending_still_takes_a_checkpoint(
    sessions: sessionmaker[Session],
) -> None:
    stream = _Scripted([Flush({"at": 1}), Commit({"at": 2}), Commit({"at": 3})])
    report = sync_stream(_Scripts(stream), "script", sessions, checkpoint_every=100)
    # The plain Flush commits nothing; each Commit is one checkpoint of no record.
    assert stream.checkpoints == [[], []]
    assert (report.checkpoints, report.received) == (2, 0)
    assert load_cursor(sessions, "scripted", "script") == {"at": 3}
    assert _log(sessions) == [0, 0]


def test_a_commit_commits_the_records_pending_like_a_flush(
    sessions: sessionmaker[Session],
) -> None:
    stream = _Scripted(
        [_record("a", 1), _record("b", 2), Commit({"at": 2}), _record("c", 3), Flush({"at": 3})]
    )
    report = sync_stream(_Scripts(stream), "script", sessions, checkpoint_every=100)
    assert stream.checkpoints == [["a", "b"], ["c"]]
    assert (report.checkpoints, report.received, report.inserted) == (2, 3, 3)
    assert _log(sessions) == [2, 1]
    with sessions() as s:
        assert sorted(s.scalars(select(SourceRecord.source_key))) == ["a", "b", "c"]
    assert load_cursor(sessions, "scripted", "script") == {"at": 3}
