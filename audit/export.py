"""Exports an auditor can verify offline, with nothing but the hub's public key.

An export holds a contiguous seq range, the checkpoints inside it and the public JWKS. A
middle slice verifies on its own: its first entry's ``prev_hash`` is the anchor (stated in the
header), and a signed checkpoint at the slice's last entry — made at export time when a signer
is given ("sealing") — vouches for every entry of the slice through the hash chain. Without a
seal, entries after the last checkpoint in the range are reported as unsigned.

The time window is turned into a seq range (first entry at or after ``since``, last entry
before ``until``), so a slice never has holes even if a caller supplied out-of-order times.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit.canonical import GENESIS, rfc3339
from audit.checkpoint import checkpoint
from audit.records import RecordWriter, iter_checkpoints, iter_entries
from audit.signing import Signer
from canonical_model import AuditCheckpoint, ExchangeLogEntry, utcnow

EXPORT_FORMAT: Final = "gridhub.audit.export/1"
CANONICAL_NOTE: Final = (
    "entry_hash = sha256 of the RFC 8785 (JCS) JSON of the entry without entry_hash; "
    "prev_hash of seq 1 is 64 zeros"
)


@dataclass(frozen=True, slots=True)
class ExportResult:
    first_seq: int | None
    last_seq: int | None
    entries: int
    checkpoints: int
    sealed: bool  # a checkpoint was signed at last_seq for this export


def seq_range(
    session: Session, since: datetime | None, until: datetime | None
) -> tuple[int | None, int | None]:
    """The live seq range whose entries fall in ``[since, until)``; (None, None) when empty."""
    first_q = select(func.min(ExchangeLogEntry.seq))
    last_q = select(func.max(ExchangeLogEntry.seq))
    if since is not None:
        first_q = first_q.where(ExchangeLogEntry.at >= since)
    if until is not None:
        last_q = last_q.where(ExchangeLogEntry.at < until)
    first, last = session.scalar(first_q), session.scalar(last_q)
    if first is None or last is None or first > last:
        return None, None
    return int(first), int(last)


def export(
    session: Session,
    since: datetime | None,
    until: datetime | None,
    format: str,  # "jsonl" or "csv"; the CLI's word for it
    out: Path | IO[str],
    *,
    jwks: Mapping[str, Any],
    signer: Signer | None = None,
    first_seq: int | None = None,
    last_seq: int | None = None,
) -> ExportResult:
    """Write the entries of ``[since, until)`` (or of a seq range) to ``out``.

    With a ``signer`` the slice is sealed: a checkpoint at its last entry is signed (after
    re-verifying the chain since the previous checkpoint) in the caller's transaction, so the
    caller should commit. ``jwks`` is what the auditor is told to trust; give the public set.
    """
    if format not in ("jsonl", "csv"):
        raise ValueError("format must be jsonl or csv")
    if first_seq is None and last_seq is None:
        first_seq, last_seq = seq_range(session, since, until)
    elif first_seq is None or last_seq is None:
        raise ValueError("give both first_seq and last_seq, or neither")
    sealed = False
    if signer is not None and last_seq is not None:
        existing = session.scalar(select(func.count()).where(AuditCheckpoint.seq == last_seq))
        if not existing:
            checkpoint(session, signer, seq=last_seq)
            sealed = True
    with _target(out) as stream:
        return _write(session, stream, format, since, until, first_seq, last_seq, jwks, sealed)


def _write(
    session: Session,
    stream: IO[str],
    fmt: str,
    since: datetime | None,
    until: datetime | None,
    first_seq: int | None,
    last_seq: int | None,
    jwks: Mapping[str, Any],
    sealed: bool,
) -> ExportResult:
    writer = RecordWriter(stream, fmt)
    anchor = None
    if first_seq is not None:
        first = session.get(ExchangeLogEntry, first_seq)
        anchor = {
            "seq": first_seq - 1,
            "entry_hash": GENESIS if first is None else first.prev_hash,
        }
    writer.other(
        "header",
        {
            "format": EXPORT_FORMAT,
            "canonical": CANONICAL_NOTE,
            "since": None if since is None else rfc3339(since),
            "until": None if until is None else rfc3339(until),
            "first_seq": first_seq,
            "last_seq": last_seq,
            "anchor": anchor,
            "exported_at": rfc3339(utcnow()),
        },
    )
    writer.other("jwks", {"keys": list(jwks.get("keys", []))})
    n_cp = n_entries = 0
    if first_seq is not None and last_seq is not None:
        for cp in iter_checkpoints(session, first_seq, last_seq):
            writer.other("checkpoint", cp)
            n_cp += 1
        for entry in iter_entries(session, first_seq, last_seq):
            writer.entry(entry)
            n_entries += 1
    return ExportResult(first_seq, last_seq, n_entries, n_cp, sealed)


@contextmanager
def _target(out: Path | IO[str]) -> Iterator[IO[str]]:
    """A path is written to a temporary file and renamed: a crash never leaves half an export."""
    if not isinstance(out, Path):
        yield out
        return
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
