"""Appending: the chain's fields, the caller's transaction, validation — on both backends."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from audit import GENESIS, KeySet, append, append_many, head, payload_digest, verify_store
from audit.canonical import rfc3339
from canonical_model import Direction, ExchangeLogEntry, SyncState
from tests.audit.helpers import entry_kwargs, fill, rehash


def _all(sessions: sessionmaker[Session]) -> list[ExchangeLogEntry]:
    with sessions() as s:
        return list(s.scalars(select(ExchangeLogEntry).order_by(ExchangeLogEntry.seq)))


def test_entries_chain_from_genesis(sessions: sessionmaker[Session]) -> None:
    fill(sessions, 25)
    entries = _all(sessions)
    assert [e.seq for e in entries] == list(range(1, 26))
    assert entries[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.entry_hash
    for e in entries:
        fields = {c: getattr(e, c) for c in ("seq", "actor_subject")}
        assert fields["seq"] == e.seq
        stored = {
            "seq": e.seq,
            "at": rfc3339(e.at),
            "direction": e.direction.value,
            "counterpart": e.counterpart,
            "actor_subject": e.actor_subject,
            "actor_role": e.actor_role,
            "purpose": e.purpose,
            "operation": e.operation,
            "object_refs": e.object_refs,
            "record_count": e.record_count,
            "payload_sha256": e.payload_sha256,
            "result": e.result,
            "correlation_id": e.correlation_id,
            "prev_hash": e.prev_hash,
        }
        assert rehash(stored) == e.entry_hash


def test_entry_commits_and_rolls_back_with_the_callers_work(
    sessions: sessionmaker[Session],
) -> None:
    """A sync batch's cursor and its log entry commit together — or not at all."""

    def failing_batch() -> None:
        with sessions() as s, s.begin():
            s.add(SyncState(source="hukou", stream="persons", cursor={"page": 2}))
            append(s, direction="inbound", counterpart="hukou", actor_subject="sync", operation="b")
            raise RuntimeError("the batch failed half-way")

    with pytest.raises(RuntimeError):
        failing_batch()
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ExchangeLogEntry)) == 0
        assert s.scalar(select(func.count()).select_from(SyncState)) == 0
    with sessions() as s, s.begin():
        s.add(SyncState(source="hukou", stream="persons", cursor={"page": 2}))
        entry = append(
            s, direction="inbound", counterpart="hukou", actor_subject="sync", operation="b"
        )
    assert entry.seq == 1  # the rolled-back attempt left no gap
    assert [e.seq for e in _all(sessions)] == [1]


def test_a_rolled_back_savepoint_does_not_break_the_chain(
    sessions: sessionmaker[Session], keys: KeySet
) -> None:
    with sessions() as s, s.begin():
        append(s, **entry_kwargs(1))
        nested = s.begin_nested()
        append(s, **entry_kwargs(2))
        nested.rollback()
        append(s, **entry_kwargs(3))
        with s.begin_nested():
            append(s, **entry_kwargs(4))
        append(s, **entry_kwargs(5))
    assert [e.seq for e in _all(sessions)] == [1, 2, 3, 4]
    with sessions() as s:
        assert verify_store(s, keys).ok


def test_batch_and_single_appends_interleave(sessions: sessionmaker[Session], keys: KeySet) -> None:
    with sessions() as s, s.begin():
        append(s, **entry_kwargs(1))
        heads = append_many(s, [entry_kwargs(i) for i in range(2, 7)])
        append(s, **entry_kwargs(7))
    assert [h.seq for h in heads] == [2, 3, 4, 5, 6]
    with sessions() as s, s.begin():
        assert append_many(s, []) == []
        assert head(s).seq == 7
    with sessions() as s:
        report = verify_store(s, keys)
    assert report.ok, report.findings
    assert report.entries == 7


def test_at_defaults_to_now_and_keeps_microseconds(sessions: sessionmaker[Session]) -> None:
    shanghai = timezone(timedelta(hours=8))
    given = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=shanghai)
    before = datetime.now(UTC)
    with sessions() as s, s.begin():
        append(s, direction="read", counterpart="api", actor_subject="w", operation="o")
        append(s, direction="read", counterpart="api", actor_subject="w", operation="o", at=given)
    first, second = _all(sessions)
    assert before <= first.at <= datetime.now(UTC)
    assert second.at == given
    assert rfc3339(second.at) == "2026-03-01T01:30:15.123456Z"


def test_chinese_text_and_payload_digest_round_trip(
    sessions: sessionmaker[Session], keys: KeySet
) -> None:
    digest = payload_digest({"姓名": "欧阳娜娜", "n": 1})
    assert digest == payload_digest('{"n":1,"姓名":"欧阳娜娜"}')
    assert payload_digest(b"abc") == payload_digest("abc")
    with sessions() as s, s.begin():
        append(
            s,
            direction=Direction.OUTBOUND,
            counterpart="民政局",
            actor_subject="网格员-07",
            purpose="低保复核",
            operation="写回",
            object_refs={"persons": ["01J0"], "note": "第3网格"},
            payload_sha256=digest,
        )
    with sessions() as s:
        assert verify_store(s, keys).ok


@pytest.mark.parametrize(
    ("change", "error"),
    [
        pytest.param({"at": datetime(2026, 1, 1)}, "naive", id="naive-time"),
        pytest.param({"object_refs": {"x": 1.5}}, "floats", id="float"),
        pytest.param({"object_refs": {"键": 1}}, "ASCII", id="non-ascii-key"),
        pytest.param({"object_refs": {"x": 2**60}}, "safe range", id="huge-int"),
        pytest.param({"counterpart": "x" * 81}, "longer", id="too-long"),
        pytest.param({"operation": ""}, "required", id="empty-required"),
        pytest.param({"payload_sha256": "ABC"}, "hex", id="bad-digest"),
        pytest.param({"record_count": -1}, "range", id="negative-count"),
        pytest.param({"direction": "sideways"}, "sideways", id="bad-direction"),
        pytest.param({"purpose": "a\x00b"}, "NUL", id="nul"),
    ],
)
def test_what_would_not_hash_the_same_after_storage_is_refused(
    sessions: sessionmaker[Session], change: dict[str, object], error: str
) -> None:
    kwargs = {**entry_kwargs(1), **change}
    with pytest.raises(ValueError, match=error), sessions() as s, s.begin():
        append(s, **kwargs)  # type: ignore[arg-type]
    assert _all(sessions) == []


def test_empty_optional_text_is_stored_as_null(sessions: sessionmaker[Session]) -> None:
    with sessions() as s, s.begin():
        entry = append(
            s, direction="read", counterpart="api", actor_subject="w", operation="o", purpose=""
        )
    assert entry.purpose is None


def test_a_writer_that_bypasses_the_lock_cannot_fork_the_chain(
    sessions: sessionmaker[Session],
) -> None:
    """seq is the primary key: a second entry claiming the same head fails, loudly."""
    fill(sessions, 3)
    with pytest.raises(IntegrityError), sessions() as s, s.begin():
        s.add(
            ExchangeLogEntry(
                seq=3,
                at=datetime.now(UTC),
                direction=Direction.READ,
                counterpart="x",
                actor_subject="x",
                operation="x",
                prev_hash="0" * 64,
                entry_hash="f" * 64,
            )
        )


def test_the_returned_entry_is_the_row_and_attaches_without_a_second_insert(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as s, s.begin():
        entry = append(s, **entry_kwargs(3))
        assert entry not in s  # already written, not pending
        s.add(entry)  # attaches as persistent: no duplicate INSERT at commit
    (stored,) = _all(sessions)
    for name in ("seq", "at", "direction", "actor_subject", "object_refs", "entry_hash"):
        assert getattr(stored, name) == getattr(entry, name)
