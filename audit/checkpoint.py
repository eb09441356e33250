"""Signed checkpoints: the hub's statement that the log up to ``seq`` ends in ``entry_hash``.

A checkpoint turns the hash chain from tamper-*evident to whoever kept a copy* into
tamper-evident to anyone holding the public key: rewriting entries at or before a checkpoint
means forging the hub's signature. Before signing, the entries since the previous checkpoint
are re-verified, so the hub never blesses a chain that was already altered under it.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit.canonical import rfc3339
from audit.records import iter_rows
from audit.signing import KeySet, Signer, checkpoint_payload
from audit.verify import Anchor, Finding, Verifier, run_rows
from canonical_model import AuditCheckpoint, ExchangeLogEntry, utcnow

DEFAULT_EVERY = 1000
"""Entries between automatic checkpoints: the tail a superuser could rewrite unnoticed."""


class ChainBroken(Exception):
    """The chain does not verify, so the hub refuses to sign it."""

    def __init__(self, finding: Finding | None) -> None:
        super().__init__(f"refusing to sign: {finding}")
        self.finding = finding


def last_checkpoint(session: Session, at_or_before: int | None = None) -> AuditCheckpoint | None:
    stmt = select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc(), AuditCheckpoint.id.desc())
    if at_or_before is not None:
        stmt = stmt.where(AuditCheckpoint.seq <= at_or_before)
    return session.scalars(stmt.limit(1)).first()


def checkpoint(
    session: Session,
    signer: Signer,
    *,
    seq: int | None = None,
    verify: bool = True,
) -> AuditCheckpoint | None:
    """Sign the head (or ``seq``) in the caller's transaction; None when the log is empty.

    An existing checkpoint at that seq is returned instead of signing twice.
    """
    target_seq = seq
    if target_seq is None:
        target_seq = session.scalar(select(func.max(ExchangeLogEntry.seq)))
        if target_seq is None:
            return None
    entry = session.get(ExchangeLogEntry, target_seq)
    if entry is None:
        raise LookupError(f"no entry at seq {target_seq}")
    previous = last_checkpoint(session, target_seq)
    if previous is not None and previous.seq == target_seq:
        return previous
    if verify:
        verify_since(session, previous, target_seq)
    now = utcnow()
    jws = signer.sign(checkpoint_payload(target_seq, entry.entry_hash, rfc3339(now)))
    row = AuditCheckpoint(
        seq=target_seq, entry_hash=entry.entry_hash, at=now, kid=signer.kid, jws=jws
    )
    session.add(row)
    session.flush()
    return row


def checkpoint_if_due(
    session: Session, signer: Signer, *, every: int = DEFAULT_EVERY
) -> AuditCheckpoint | None:
    """Checkpoint when ``every`` entries or more have been appended since the last one.

    Meant to run right after a batch commits (or on a schedule), not inside ``append``: the
    signature then costs nothing on the appenders' critical path.
    """
    head = session.scalar(select(func.max(ExchangeLogEntry.seq)))
    if head is None:
        return None
    previous = last_checkpoint(session)
    if head - (0 if previous is None else previous.seq) < every:
        return None
    return checkpoint(session, signer)


def verify_since(session: Session, previous: AuditCheckpoint | None, last_seq: int) -> None:
    """Re-check the entries after ``previous`` (or all live ones) up to ``last_seq``.

    They must chain to the previous checkpoint's hash, taken from its row: this guards against
    signing over an altered chain; full signature checks are the auditor's verify. It also
    works when the checkpointed entry itself has been archived.
    """
    anchor = None if previous is None else Anchor(previous.seq, previous.entry_hash)
    first = None if previous is None else previous.seq + 1
    report = run_rows(Verifier(KeySet({}), anchor=anchor), iter_rows(session, first, last_seq))
    if not report.ok:
        raise ChainBroken(report.first)
