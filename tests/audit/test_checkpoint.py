"""Checkpoints: when they are made, what they sign, and that they verify."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from audit import FileSigner, KeySet, checkpoint, checkpoint_if_due, open_checkpoint
from canonical_model import AuditCheckpoint, ExchangeLogEntry
from tests.audit.helpers import fill


def _count(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0)


def test_nothing_to_sign_in_an_empty_log(
    sessions: sessionmaker[Session], signer: FileSigner
) -> None:
    with sessions() as s, s.begin():
        assert checkpoint(s, signer) is None
        assert checkpoint_if_due(s, signer, every=1) is None


def test_checkpoint_signs_the_head_and_is_not_repeated(
    sessions: sessionmaker[Session], signer: FileSigner, keys: KeySet
) -> None:
    fill(sessions, 7)
    with sessions() as s, s.begin():
        row = checkpoint(s, signer)
        assert row is not None
        again = checkpoint(s, signer)
    assert again is not None
    assert again.id == row.id
    claims = open_checkpoint(row.jws, keys)
    with sessions() as s:
        head = s.get(ExchangeLogEntry, 7)
    assert head is not None
    assert (claims.seq, claims.entry_hash, claims.kid) == (7, head.entry_hash, signer.kid)
    assert _count(sessions) == 1


def test_checkpoint_if_due_every_n_entries(
    sessions: sessionmaker[Session], signer: FileSigner
) -> None:
    fill(sessions, 9)
    with sessions() as s, s.begin():
        assert checkpoint_if_due(s, signer, every=10) is None
    fill(sessions, 1, start=10)
    with sessions() as s, s.begin():
        due = checkpoint_if_due(s, signer, every=10)
    assert due is not None
    assert due.seq == 10
    fill(sessions, 9, start=11)
    with sessions() as s, s.begin():
        assert checkpoint_if_due(s, signer, every=10) is None
    assert _count(sessions) == 1


def test_checkpoint_at_a_missing_seq_is_an_error(
    sessions: sessionmaker[Session], signer: FileSigner
) -> None:
    fill(sessions, 3)
    with pytest.raises(LookupError), sessions() as s, s.begin():
        checkpoint(s, signer, seq=99)
