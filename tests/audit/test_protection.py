"""Migration 0002: the database itself refuses to change or remove log rows."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session, sessionmaker

from audit import ArchiveError, FileSigner, KeySet, checkpoint, purge, verify_store
from canonical_model import AuditCheckpoint, ExchangeLogEntry
from canonical_model.store import downgrade, upgrade
from tests.audit.helpers import fill

REFUSED = (DatabaseError,)  # sqlite3.IntegrityError (RAISE ABORT) or psycopg InsufficientPrivilege


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(
            "UPDATE exchange_log SET actor_subject = 'someone-else' WHERE seq = 2", id="u"
        ),
        pytest.param("UPDATE exchange_log SET seq = seq + 100", id="renumber"),
        pytest.param("DELETE FROM exchange_log WHERE seq = 2", id="delete-one"),
        pytest.param("DELETE FROM exchange_log", id="delete-all"),
        pytest.param("UPDATE audit_checkpoint SET entry_hash = 'x'", id="cp-update"),
        pytest.param("DELETE FROM audit_checkpoint", id="cp-delete"),
    ],
)
def test_the_application_cannot_update_or_delete(
    engine: Engine, sessions: sessionmaker[Session], signer: FileSigner, statement: str
) -> None:
    fill(sessions, 5)
    with sessions() as s, s.begin():
        checkpoint(s, signer)
    with pytest.raises(REFUSED, match=r"append-only|no such function"), engine.begin() as conn:
        conn.execute(text(statement))
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ExchangeLogEntry)) == 5
        assert s.scalar(select(func.count()).select_from(AuditCheckpoint)) == 1


def test_orm_changes_are_refused_too(sessions: sessionmaker[Session]) -> None:
    fill(sessions, 3)

    def edit() -> None:
        with sessions() as s, s.begin():
            entry = s.get(ExchangeLogEntry, 2)
            assert entry is not None
            entry.purpose = "rewritten"

    with pytest.raises(REFUSED):
        edit()
    with pytest.raises(REFUSED), sessions() as s, s.begin():
        s.delete(s.get(ExchangeLogEntry, 3))


@pytest.mark.integration
@pytest.mark.parametrize("table", ["exchange_log", "audit_checkpoint"])
def test_postgresql_refuses_truncate(pg_engine: Engine, table: str) -> None:
    with pytest.raises(REFUSED, match="append-only"), pg_engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {table}"))


@pytest.mark.integration
def test_postgresql_public_has_no_write_rights_and_purge_is_not_public(pg_engine: Engine) -> None:
    with pg_engine.connect() as conn:
        for right in ("UPDATE", "DELETE", "TRUNCATE"):
            granted = conn.execute(
                text(
                    "SELECT count(*) FROM information_schema.role_table_grants "
                    "WHERE grantee = 'PUBLIC' AND table_name = 'exchange_log' "
                    "AND privilege_type = :p"
                ),
                {"p": right},
            ).scalar_one()
            assert granted == 0
        public_execute = conn.execute(
            text(
                "SELECT count(*) FROM pg_proc, aclexplode(proacl) AS a "
                "WHERE proname = 'gridhub_audit_purge' AND a.grantee = 0"  # 0 is PUBLIC
            )
        ).scalar_one()
        assert public_execute == 0


def test_purge_only_removes_checkpointed_rows_below_the_head(
    sessions: sessionmaker[Session], signer: FileSigner
) -> None:
    fill(sessions, 10)
    with sessions() as s, s.begin():
        cp = checkpoint(s, signer, seq=6)
        assert cp is not None
        expected = cp.entry_hash
    with pytest.raises((ArchiveError, DatabaseError)), sessions() as s, s.begin():
        purge(s, 5, expected)  # not the checkpointed seq
    with pytest.raises((ArchiveError, DatabaseError)), sessions() as s, s.begin():
        purge(s, 6, "0" * 64)  # not the archived hash
    with sessions() as s, s.begin():
        checkpoint(s, signer, seq=10)
    with sessions() as s:
        head = s.get(ExchangeLogEntry, 10)
        assert head is not None
        head_hash = head.entry_hash
    with pytest.raises((ArchiveError, DatabaseError)), sessions() as s, s.begin():
        purge(s, 10, head_hash)  # the head always stays
    with sessions() as s, s.begin():
        assert purge(s, 6, expected) == 6
    with sessions() as s:
        assert list(s.scalars(select(ExchangeLogEntry.seq).order_by(ExchangeLogEntry.seq))) == [
            7,
            8,
            9,
            10,
        ]
    # After the purge the guard is back: the next plain DELETE is refused again.
    with pytest.raises(REFUSED), sessions() as s, s.begin():
        s.execute(text("DELETE FROM exchange_log WHERE seq = 7"))


def test_downgrade_removes_the_protection_and_upgrade_restores_it(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    fill(sessions, 2)
    downgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text("UPDATE exchange_log SET purpose = 'x' WHERE seq = 1"))
    upgrade(engine)
    with pytest.raises(REFUSED), engine.begin() as conn:
        conn.execute(text("UPDATE exchange_log SET purpose = 'y' WHERE seq = 1"))


def test_migration_0014_keeps_the_rows_the_chain_and_the_protection(
    engine: Engine, sessions: sessionmaker[Session], keys: KeySet
) -> None:
    """Dropping the unique index on ``entry_hash`` rebuilds SQLite's table: the rows come
    through untouched (the chain still verifies) and the append-only triggers with them."""

    def hash_is_unique() -> bool:
        uniques = inspect(engine).get_unique_constraints("exchange_log")
        return any(u["column_names"] == ["entry_hash"] for u in uniques)

    fill(sessions, 12)
    with sessions() as s:
        before = [(e.seq, e.entry_hash) for e in s.scalars(select(ExchangeLogEntry))]
    downgrade(engine, "0013")
    assert hash_is_unique()
    with pytest.raises(REFUSED), engine.begin() as conn:
        conn.execute(text("UPDATE exchange_log SET purpose = 'y' WHERE seq = 1"))
    upgrade(engine)
    assert not hash_is_unique()
    with sessions() as s:
        assert [(e.seq, e.entry_hash) for e in s.scalars(select(ExchangeLogEntry))] == before
        assert verify_store(s, keys).ok
    for statement in (
        "UPDATE exchange_log SET purpose = 'y' WHERE seq = 1",
        "DELETE FROM exchange_log",
    ):
        with pytest.raises(REFUSED, match=r"append-only|no such function"), engine.begin() as conn:
            conn.execute(text(statement))
    fill(sessions, 3, start=13)  # the chain goes on where it stopped
    with sessions() as s:
        assert verify_store(s, keys).ok
        assert s.scalar(select(func.count()).select_from(ExchangeLogEntry)) == 15
