"""resolution_block WITHOUT ROWID on SQLite: the index table is its primary key

Revision ID: 0013
Revises: 0012

Every full resolution run rewrites ``resolution_block`` (~16M rows at 1,000,000 persons). As
an ordinary SQLite table each row was written twice, into the rowid table and into the
automatic index of its primary key (``key``, ``source_record_id``), though nothing ever reads
the rowid. Without a rowid the primary key's B-tree is the table, so each row is written once
and the table takes about half the pages. Lookups are the same: a placement's candidates are
found by ``key`` and read ``source_record_id`` from the same B-tree. SQLite only (the table is
rebuilt and its rows copied); PostgreSQL has no rowid and is left as it is.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "resolution_block", recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}
    ):
        pass


def upgrade() -> None:
    _rebuild(False)


def downgrade() -> None:
    _rebuild(True)
