"""exchange_log without the unique index on entry_hash: the primary key already forbids a fork

Revision ID: 0014
Revises: 0013

Each entry's hash covers its own ``seq`` and its predecessor's hash, and ``seq`` is the
primary key: a writer that bypassed the chain lock and chained after a stale head claims a
``seq`` that is taken, and fails on the key (``tests/audit/test_append.py``). A second
entry with an equal hash would have to repeat that ``seq`` as well, so the unique index on
``entry_hash`` refused nothing the key does not. It cost on every append: a B-tree over
random keys, one leaf page written at a random place per entry (a full page image in the WAL
after each checkpoint), 58 MB at 488,000 entries — on PostgreSQL ~8 of the ~20 µs an entry
costs to insert (40,000 rows inserted beside a copy with the index: 17–22 against 11–14 µs),
and an ever-growing table that, once its index outgrows memory, reads a random page per
append. Nothing looks an entry up by its hash: verification walks ``seq``, checkpoints and
the purge match ``seq`` *and* hash, through the key.

PostgreSQL drops the constraint; SQLite cannot drop a table constraint, so the table is
rebuilt and the append-only triggers it carried (migration 0002) are re-created from their
own stored SQL. The rows are copied as they are: nothing is re-hashed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_NAME = "uq_exchange_log_entry_hash"


def _rebuild_sqlite(change: Callable[[Any], None]) -> None:
    """Recreate ``exchange_log`` with ``change`` applied, keeping its triggers."""
    triggers = [
        row[0]
        for row in op.get_bind().exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'exchange_log'"
            " ORDER BY name"
        )
    ]
    with op.batch_alter_table("exchange_log", recreate="always") as batch:
        change(batch)
    for sql in triggers:  # dropped with the old table: re-created as they were
        op.execute(sql)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(lambda batch: batch.drop_constraint(_NAME, type_="unique"))
    else:
        op.drop_constraint(_NAME, "exchange_log", type_="unique")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(lambda batch: batch.create_unique_constraint(_NAME, ["entry_hash"]))
    else:
        op.create_unique_constraint(_NAME, "exchange_log", ["entry_hash"])
