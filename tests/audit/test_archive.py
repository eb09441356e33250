"""Rotation into hash-linked gzip archives, and verification across archives + live table."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from audit import (
    ArchiveError,
    FileSigner,
    KeySet,
    Reason,
    archive,
    list_archives,
    verify_all,
    verify_file,
    verify_store,
    who_accessed,
)
from audit.archive import MANIFEST, file_sha256
from canonical_model import ExchangeLogEntry
from tests.audit.helpers import PERSON_A, T0, fill, superuser


def _archive(
    sessions: sessionmaker[Session], signer: FileSigner, keys: KeySet, folder: Path, minute: int
) -> object:
    with sessions() as s, s.begin():
        return archive(
            s,
            before=T0 + timedelta(minutes=minute),
            directory=folder,
            keys=keys,
            jwks=signer.jwks(),
            signer=signer,
        )


def _live(sessions: sessionmaker[Session]) -> list[int]:
    with sessions() as s:
        return list(s.scalars(select(ExchangeLogEntry.seq).order_by(ExchangeLogEntry.seq)))


def test_rotation_links_archives_and_verifies_end_to_end(
    sessions: sessionmaker[Session], signer: FileSigner, keys: KeySet, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    fill(sessions, 50)
    first = _archive(sessions, signer, keys, folder, 20)  # entries at minutes 1..19
    second = _archive(sessions, signer, keys, folder, 40)
    assert _archive(sessions, signer, keys, folder, 40) is None  # nothing new to move
    archives = list_archives(folder)
    assert archives == [first, second]
    assert [(a.first_seq, a.last_seq) for a in archives] == [(1, 19), (20, 39)]
    assert _live(sessions) == list(range(40, 51))
    for info in archives:
        assert file_sha256(folder / info.name) == info.sha256
        sidecar = (folder / f"{info.name}.sha256").read_text(encoding="ascii")
        assert sidecar.split() == [info.sha256, info.name]
        assert verify_file(folder / info.name, keys).report.ok  # each stands alone too
    with gzip.open(folder / archives[1].name, "rt", encoding="utf-8") as stream:
        header = json.loads(stream.readline())
    assert header["previous"] == {
        "name": archives[0].name,
        "sha256": archives[0].sha256,
        "last_seq": 19,
        "last_entry_hash": archives[0].last_entry_hash,
    }
    fill(sessions, 5, start=51)  # appending continues after rotation
    with sessions() as s:
        report = verify_all(s, keys, folder)
        live_only = verify_store(s, keys)
    assert report.ok, report.findings
    assert (report.first_seq, report.last_seq, report.entries) == (1, 55, 55)
    assert live_only.ok
    assert live_only.first_seq == 40


def test_the_newest_entry_always_stays_live(
    sessions: sessionmaker[Session], signer: FileSigner, keys: KeySet, tmp_path: Path
) -> None:
    fill(sessions, 5)
    info = _archive(sessions, signer, keys, tmp_path / "a", 10_000)
    assert info is not None
    assert _live(sessions) == [5]


def test_an_altered_archive_is_caught(
    sessions: sessionmaker[Session], signer: FileSigner, keys: KeySet, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    fill(sessions, 30)
    _archive(sessions, signer, keys, folder, 10)
    _archive(sessions, signer, keys, folder, 20)
    first = list_archives(folder)[0]
    path = folder / first.name
    with gzip.open(path, "rt", encoding="utf-8") as stream:
        lines = stream.read().splitlines()
    lines = [line.replace('"worker-3"', '"worker-9"', 1) for line in lines]
    with gzip.open(path, "wt", encoding="utf-8") as stream:
        stream.write("\n".join(lines) + "\n")
    with sessions() as s:
        report = verify_all(s, keys, folder)
    assert report.first is not None
    assert (report.first.seq, report.first.reason) == (1, Reason.ARCHIVE)  # digest differs
    # Even with the manifest "fixed" by the attacker, the content no longer verifies.
    manifest = folder / MANIFEST
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    rows[0]["sha256"] = file_sha256(path)
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with sessions() as s:
        report = verify_all(s, keys, folder)
    assert report.first is not None
    assert report.first.reason in (Reason.HASH_MISMATCH, Reason.ARCHIVE)
    assert report.first.seq is not None
    assert report.first.seq <= 9


def test_a_missing_archive_shows_as_a_gap(
    sessions: sessionmaker[Session], signer: FileSigner, keys: KeySet, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    fill(sessions, 30)
    _archive(sessions, signer, keys, folder, 10)
    _archive(sessions, signer, keys, folder, 20)
    manifest = folder / MANIFEST
    lines = manifest.read_text().splitlines()
    manifest.write_text(lines[1] + "\n")  # first archive forgotten
    with sessions() as s:
        report = verify_all(s, keys, folder)
    assert report.first is not None
    assert (report.first.seq, report.first.reason) == (1, Reason.GAP)


def test_an_interrupted_purge_is_finished_by_the_next_run(
    sessions: sessionmaker[Session], signer: FileSigner, keys: KeySet, tmp_path: Path
) -> None:
    """The archive was written and recorded, then the process died before the DELETE committed."""
    folder = tmp_path / "archive"
    fill(sessions, 30)

    def dies_before_commit() -> None:
        with sessions() as s, s.begin():
            archive(
                s,
                before=T0 + timedelta(minutes=15),
                directory=folder,
                keys=keys,
                jwks=signer.jwks(),
                signer=signer,
            )
            raise RuntimeError("killed before commit")

    with pytest.raises(RuntimeError):
        dies_before_commit()
    assert len(list_archives(folder)) == 1
    assert _live(sessions)[0] == 1  # nothing was deleted
    info = _archive(sessions, signer, keys, folder, 15)
    assert info == list_archives(folder)[0]
    assert _live(sessions)[0] == info.last_seq + 1  # type: ignore[attr-defined]
    with sessions() as s:
        assert verify_all(s, keys, folder).ok


def test_archiving_refuses_a_tampered_live_log(
    engine: Engine,
    sessions: sessionmaker[Session],
    signer: FileSigner,
    keys: KeySet,
    tmp_path: Path,
) -> None:
    fill(sessions, 30)
    with sessions() as s, s.begin():
        from audit import checkpoint

        checkpoint(s, signer, seq=12)
    with superuser(engine) as conn:
        conn.execute(text("UPDATE exchange_log SET purpose = 'x' WHERE seq = 5"))
    with pytest.raises(ArchiveError, match="does not verify"):
        _archive(sessions, signer, keys, tmp_path / "a", 14)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ExchangeLogEntry)) == 30


def test_who_accessed_reaches_into_archives(
    sessions: sessionmaker[Session], signer: FileSigner, keys: KeySet, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    fill(sessions, 30)
    with sessions() as s:
        before = who_accessed(s, PERSON_A)
    _archive(sessions, signer, keys, folder, 16)
    with sessions() as s:
        live_only = who_accessed(s, PERSON_A)
        everything = who_accessed(s, PERSON_A, archive_dir=folder)
    assert [a.seq for a in before] == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    assert [a.seq for a in live_only] == [18, 21, 24, 27, 30]
    assert everything == before
