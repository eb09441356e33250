"""Rotation: old entries move from the live table into gzip archives linked by hash.

As in X-Road's message log, every archive names its predecessor (file name, sha256 and last
entry hash) and ends at a signed checkpoint, so the archives and the live table form one chain
that :func:`verify_all` checks end to end. ``MANIFEST.jsonl`` lists the archives in order with
their sha256 (and ``<name>.sha256`` sits beside each file for ``sha256sum -c``).

Order of work, so that a crash at any point loses nothing: verify the live range, write the
archive to a temporary file, fsync, rename, record it in the manifest, re-read and verify it
from disk, and only then delete the rows — through the database's guarded purge path (see
migration 0002), which refuses anything but rows up to a checkpointed seq below the head. If
the process dies after the manifest line but before the delete commits, the next run finds
the archived range still live, checks it against the archive and finishes the purge.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, cast

from sqlalchemy import CursorResult, Table, delete, func, select, text
from sqlalchemy.orm import Session

from audit.canonical import GENESIS, parse_rfc3339, rfc3339
from audit.checkpoint import checkpoint
from audit.offline import verify_records
from audit.records import RecordWriter, iter_checkpoints, iter_entries, iter_rows, read_records
from audit.signing import KeySet, Signer, open_checkpoint
from audit.verify import Anchor, Finding, Reason, Report, Verifier, run_rows
from canonical_model import AuditCheckpoint, ExchangeLogEntry, utcnow

ARCHIVE_FORMAT: Final = "gridhub.audit.archive/1"
MANIFEST: Final = "MANIFEST.jsonl"
_SQLITE_PURGE_FUNCTION: Final = "gridhub_audit_purge_upto"


class ArchiveError(Exception):
    """Archiving stopped before deleting anything; the message says why."""


@dataclass(frozen=True, slots=True)
class ArchiveInfo:
    name: str
    first_seq: int
    last_seq: int
    last_entry_hash: str
    sha256: str
    created_at: str


def list_archives(directory: Path) -> list[ArchiveInfo]:
    path = directory / MANIFEST
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as stream:
        return [ArchiveInfo(**json.loads(line)) for line in stream if line.strip()]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def archive(
    session: Session,
    *,
    before: datetime,
    directory: Path,
    keys: KeySet,
    jwks: Mapping[str, Any],
    signer: Signer | None = None,
) -> ArchiveInfo | None:
    """Move entries older than ``before`` into a new archive; None when there is nothing to do.

    Works in the caller's transaction (the purge commits with it). With a ``signer`` a
    checkpoint is made at the boundary if there is none; without, the archive ends at the
    newest existing checkpoint older than ``before``. The newest entry always stays live.
    """
    directory.mkdir(parents=True, exist_ok=True)
    archives = list_archives(directory)
    live_first = session.scalar(select(func.min(ExchangeLogEntry.seq)))
    head = session.scalar(select(func.max(ExchangeLogEntry.seq)))
    if live_first is None or head is None:
        return None
    if archives and archives[-1].last_seq >= live_first:
        return _finish_interrupted(session, directory, archives[-1], keys)
    candidate = session.scalar(
        select(func.max(ExchangeLogEntry.seq)).where(
            ExchangeLogEntry.at < before, ExchangeLogEntry.seq < head
        )
    )
    if candidate is None or candidate < live_first:
        return None
    if signer is not None:
        checkpoint(session, signer, seq=candidate)
    upto = session.scalar(
        select(func.max(AuditCheckpoint.seq)).where(
            AuditCheckpoint.seq >= live_first, AuditCheckpoint.seq <= candidate
        )
    )
    if upto is None:
        return None
    previous = archives[-1] if archives else None
    anchor = _anchor(previous, live_first)
    report = _verify_live(session, keys, live_first, upto, anchor)
    if not report.ok:
        raise ArchiveError(f"the live log does not verify, nothing archived: {report.first}")
    name = f"exchange-log-{live_first:012d}-{upto:012d}.jsonl.gz"
    tmp = directory / f".{name}.tmp"
    try:
        last_hash = _write(session, tmp, previous, anchor, live_first, upto, jwks)
        check = verify_archive_file(tmp, keys, previous)  # re-read from disk, before it counts
        if not check.ok:
            raise ArchiveError(f"the archive written does not verify: {check.first}")
        info = _publish(tmp, directory / name, live_first, upto, last_hash)
    finally:
        tmp.unlink(missing_ok=True)
    purge(session, info.last_seq, info.last_entry_hash)
    return info


def _anchor(previous: ArchiveInfo | None, live_first: int) -> Anchor:
    if previous is not None:
        return Anchor(previous.last_seq, previous.last_entry_hash)
    if live_first != 1:
        raise ArchiveError(f"entries before seq {live_first} are neither live nor archived here")
    return Anchor(0, GENESIS)


def _verify_live(session: Session, keys: KeySet, first: int, last: int, anchor: Anchor) -> Report:
    cps = iter_checkpoints(session, first, last)
    verifier = Verifier(keys, cps, anchor=anchor, require_signed=True)
    return run_rows(verifier, iter_rows(session, first, last))


def _write(
    session: Session,
    tmp: Path,
    previous: ArchiveInfo | None,
    anchor: Anchor,
    first: int,
    last: int,
    jwks: Mapping[str, Any],
) -> str:
    """Write the archive to ``tmp`` and fsync it; returns its last entry hash."""
    last_hash = ""
    # mtime=0: the same entries always give the same bytes, hence the same sha256.
    with (
        gzip.GzipFile(tmp, mode="wb", mtime=0) as gz,
        io.TextIOWrapper(gz, encoding="utf-8", newline="") as stream,
    ):
        writer = RecordWriter(stream, "jsonl")
        writer.other(
            "header",
            {
                "format": ARCHIVE_FORMAT,
                "first_seq": first,
                "last_seq": last,
                "anchor": {"seq": anchor.seq, "entry_hash": anchor.entry_hash},
                "previous": None if previous is None else _link(previous),
            },
        )
        writer.other("jwks", {"keys": list(jwks.get("keys", []))})
        for cp in iter_checkpoints(session, first, last):
            writer.other("checkpoint", cp)
        for entry in iter_entries(session, first, last):
            last_hash = entry["entry_hash"]
            writer.entry(entry)
    _fsync(tmp)
    return last_hash


def _publish(tmp: Path, final: Path, first: int, last: int, last_hash: str) -> ArchiveInfo:
    """Give the verified archive its name, then record it: sidecar digest and manifest line."""
    os.replace(tmp, final)
    digest = file_sha256(final)
    final.with_name(f"{final.name}.sha256").write_text(f"{digest}  {final.name}\n", "ascii")
    info = ArchiveInfo(final.name, first, last, last_hash, digest, rfc3339(utcnow()))
    with (final.parent / MANIFEST).open("a", encoding="utf-8") as manifest:
        manifest.write(json.dumps(asdict(info), sort_keys=True) + "\n")
        manifest.flush()
        os.fsync(manifest.fileno())
    _fsync(final.parent)
    return info


def _link(previous: ArchiveInfo) -> dict[str, Any]:
    return {
        "name": previous.name,
        "sha256": previous.sha256,
        "last_seq": previous.last_seq,
        "last_entry_hash": previous.last_entry_hash,
    }


def _fsync(path: Path) -> None:
    """fsync by path: any descriptor of the file flushes its data (and, for a folder, names)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _finish_interrupted(
    session: Session, directory: Path, info: ArchiveInfo, keys: KeySet
) -> ArchiveInfo:
    """Complete a run that wrote its archive but died before its delete committed.

    The boundary checkpoint may have rolled back with that transaction; the archive holds a
    signed copy, which is put back (after its signature checks) so the purge guard accepts it.
    """
    archives = list_archives(directory)
    previous = archives[-2] if len(archives) > 1 else None
    path = directory / info.name
    check = verify_archive_file(path, keys, previous)
    live = session.get(ExchangeLogEntry, info.last_seq)
    if not check.ok or live is None or live.entry_hash != info.last_entry_hash:
        raise ArchiveError(f"archive {info.name} does not match the live log; nothing deleted")
    if not session.scalar(
        select(func.count()).where(
            AuditCheckpoint.seq == info.last_seq,
            AuditCheckpoint.entry_hash == info.last_entry_hash,
        )
    ):
        session.add(_boundary_checkpoint(path, info, keys))
        session.flush()
    purge(session, info.last_seq, info.last_entry_hash)
    return info


def _boundary_checkpoint(path: Path, info: ArchiveInfo, keys: KeySet) -> AuditCheckpoint:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as stream:
        for kind, body in read_records(stream):
            if kind == "entry":
                break
            if kind == "checkpoint" and body.get("seq") == info.last_seq:
                claims = open_checkpoint(str(body["jws"]), keys)
                if claims.entry_hash == info.last_entry_hash:
                    return AuditCheckpoint(
                        seq=claims.seq,
                        entry_hash=claims.entry_hash,
                        at=parse_rfc3339(claims.at),
                        kid=claims.kid,
                        jws=str(body["jws"]),
                    )
    raise ArchiveError(f"archive {info.name} has no signed checkpoint at its last entry")


def purge(session: Session, upto: int, expected_hash: str) -> int:
    """Delete live entries up to ``upto`` through the database's guarded path (migration 0002).

    Only call this after the entries are safely archived; the database re-checks that
    ``upto`` is checkpointed with ``expected_hash`` and is not the chain head.
    """
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        removed = session.execute(
            text("SELECT gridhub_audit_purge(:upto, :hash)"), {"upto": upto, "hash": expected_hash}
        ).scalar_one()
        return int(removed)
    entry = session.get(ExchangeLogEntry, upto)
    head = session.scalar(select(func.max(ExchangeLogEntry.seq)))
    signed = session.scalar(
        select(func.count()).where(
            AuditCheckpoint.seq == upto, AuditCheckpoint.entry_hash == expected_hash
        )
    )
    if entry is None or entry.entry_hash != expected_hash or not signed or head is None:
        raise ArchiveError(f"purge refused: seq {upto} is not a checkpoint with that hash")
    if upto >= head:
        raise ArchiveError("purge refused: the newest entry stays (it is the chain head)")
    raw = session.connection().connection.driver_connection
    assert raw is not None
    raw.create_function(_SQLITE_PURGE_FUNCTION, 0, lambda: upto)
    try:
        result = session.execute(
            delete(cast(Table, ExchangeLogEntry.__table__)).where(ExchangeLogEntry.seq <= upto)
        )
    finally:
        raw.create_function(_SQLITE_PURGE_FUNCTION, 0, None)
    return int(cast(CursorResult[Any], result).rowcount)


# -- verification across archives -------------------------------------------------------------


def verify_archive_file(path: Path, keys: KeySet, previous: ArchiveInfo | None) -> Report:
    """One archive on its own: its chain, checkpoints (it must end signed) and its link."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as stream:
        result = verify_records(read_records(stream), keys, require_signed=True)
    report = result.report
    expected = None if previous is None else _link(previous)
    if result.header.get("previous") != expected:
        report.findings.append(
            Finding(result.header.get("first_seq"), Reason.ARCHIVE, "link to previous archive")
        )
    return report


def verify_all(
    session: Session, keys: KeySet, directory: Path, *, max_findings: int = 100
) -> Report:
    """The whole log: every archive in manifest order, then the live table, as one chain."""
    archives = list_archives(directory)
    verifier = Verifier(
        keys, iter_checkpoints(session), anchor=Anchor(0, GENESIS), max_findings=max_findings
    )
    previous: ArchiveInfo | None = None
    for info in archives:
        path = directory / info.name
        if not path.exists() or file_sha256(path) != info.sha256:
            verifier.report.findings.append(
                Finding(info.first_seq, Reason.ARCHIVE, f"{info.name}: missing or sha256 differs")
            )
            break
        with gzip.open(path, "rt", encoding="utf-8", newline="") as stream:
            result = verify_records(read_records(stream), keys, verifier=verifier)
        expected = None if previous is None else _link(previous)
        if result.header.get("previous") != expected:
            verifier.report.findings.append(
                Finding(info.first_seq, Reason.ARCHIVE, f"{info.name}: link to previous archive")
            )
        previous = info
        if verifier.full:
            return verifier.report
    live_first = None if previous is None else previous.last_seq + 1
    return run_rows(verifier, iter_rows(session, live_first, None))


def iter_archived_entries(directory: Path) -> Iterator[dict[str, Any]]:
    """Entries from every archive, oldest first (for auditor queries over rotated data)."""
    for info in list_archives(directory):
        with gzip.open(directory / info.name, "rt", encoding="utf-8", newline="") as stream:
            for kind, body in read_records(stream):
                if kind == "entry":
                    yield body
