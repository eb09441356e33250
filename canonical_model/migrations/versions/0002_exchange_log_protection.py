"""exchange log protection: append-only triggers and a controlled purge path

Revision ID: 0002
Revises: 0001

``exchange_log`` and ``audit_checkpoint`` refuse UPDATE, DELETE (and TRUNCATE) in the
database itself, so an application bug or a role without DDL rights cannot rewrite history.
A database superuser or the tables' owner can still drop the triggers: against them the hash
chain and the signed checkpoints make tampering *evident*, which is the actual guarantee.

The one way to remove log rows is archiving (``audit.archive``), which first writes and
verifies a gzip archive and then deletes rows up to a signed checkpoint, never the newest:

* PostgreSQL: ``gridhub_audit_purge(upto, expected_hash)``, SECURITY DEFINER, checks that
  ``upto`` is checkpointed with that hash and is not the head, then sets the transaction-local
  ``gridhub.audit_purge_upto`` which the trigger honours for rows ``seq <= upto`` only.
  EXECUTE is revoked from PUBLIC; grant it to the archiving role alone. A district gives the
  application role only INSERT and SELECT::

      REVOKE ALL ON exchange_log, audit_checkpoint FROM gridhub_app;
      GRANT SELECT, INSERT ON exchange_log, audit_checkpoint TO gridhub_app;
      GRANT USAGE ON SEQUENCE audit_checkpoint_id_seq TO gridhub_app;
      GRANT EXECUTE ON FUNCTION gridhub_audit_purge(bigint, text) TO gridhub_archiver;

* SQLite has no roles or session variables, and a trigger on a main table cannot see a TEMP
  table, so the DELETE trigger asks an application-defined SQL function,
  ``gridhub_audit_purge_upto()``, which ``audit.archive`` registers on its own connection for
  the length of the purge. On any other connection (the app, the ``sqlite3`` shell) the
  function does not exist and the DELETE fails. Note: a future batch migration that recreates
  ``exchange_log`` on SQLite drops these triggers and must re-create them.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = ("exchange_log", "audit_checkpoint")

_PG_REFUSE = """
CREATE FUNCTION gridhub_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  upto text := current_setting('gridhub.audit_purge_upto', true);
BEGIN
  IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'exchange_log' AND coalesce(upto, '') <> '' THEN
    IF OLD.seq <= upto::bigint THEN
      RETURN OLD;
    END IF;
  END IF;
  RAISE EXCEPTION 'the exchange log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$
"""

_PG_PURGE = """
CREATE FUNCTION gridhub_audit_purge(upto bigint, expected_hash text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
  removed bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM exchange_log WHERE seq = upto AND entry_hash = expected_hash) THEN
    RAISE EXCEPTION 'purge refused: entry % does not have the archived hash', upto;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM audit_checkpoint WHERE seq = upto AND entry_hash = expected_hash)
  THEN
    RAISE EXCEPTION 'purge refused: seq % is not checkpointed', upto;
  END IF;
  IF upto >= (SELECT max(seq) FROM exchange_log) THEN
    RAISE EXCEPTION 'purge refused: the newest entry stays (it is the chain head)';
  END IF;
  PERFORM set_config('gridhub.audit_purge_upto', upto::text, true);
  DELETE FROM exchange_log WHERE seq <= upto;
  GET DIAGNOSTICS removed = ROW_COUNT;
  PERFORM set_config('gridhub.audit_purge_upto', '', true);
  RETURN removed;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS gridhub_audit_purge(bigint, text)")
        op.execute("DROP FUNCTION IF EXISTS gridhub_audit_refuse()")
        # The REVOKEs stay: granting UPDATE/DELETE to PUBLIC would widen access, not restore it.
    else:
        for table in _TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def _upgrade_postgresql() -> None:
    schema = op.get_bind().exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
    op.execute(_PG_REFUSE)
    op.execute(_PG_PURGE.format(schema=schema))
    op.execute("REVOKE ALL ON FUNCTION gridhub_audit_purge(bigint, text) FROM PUBLIC")
    for table in _TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION gridhub_audit_refuse()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gridhub_audit_refuse()"
        )
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM PUBLIC")


def _upgrade_sqlite() -> None:
    for table in _TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN "
            f"SELECT RAISE(ABORT, 'the exchange log is append-only: UPDATE on {table} refused'); "
            "END"
        )
    op.execute(
        "CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint BEGIN "
        "SELECT RAISE(ABORT, 'the exchange log is append-only: DELETE on audit_checkpoint "
        "refused'); END"
    )
    op.execute(
        "CREATE TRIGGER exchange_log_no_delete BEFORE DELETE ON exchange_log "
        "WHEN gridhub_audit_purge_upto() IS NULL OR OLD.seq > gridhub_audit_purge_upto() BEGIN "
        "SELECT RAISE(ABORT, 'the exchange log is append-only: DELETE on exchange_log refused'); "
        "END"
    )
