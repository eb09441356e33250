"""utility readings: unique key in (kind, reading_date, account) order

Revision ID: 0010
Revises: 0009

The same three columns, so the same uniqueness and the same ``ON CONFLICT`` target; only the
index order changes. A company's file is one day's readings for every account: in
(kind, account, day) order each of them lands on a different leaf page of the index, so a
file's load dirties (and the commit writes) the whole index; in (kind, day, account) order
the day's rows, sorted by account, append to the index's end. The workflow's readers
(``workflow.utility_signals``) select by day and kind, which this order also serves.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_OLD = ("uq_utility_reading_kind_account_reading_date", ["kind", "account", "reading_date"])
_NEW = ("uq_utility_reading_kind_reading_date_account", ["kind", "reading_date", "account"])


def _swap(drop: tuple[str, list[str]], create: tuple[str, list[str]]) -> None:
    # SQLite cannot alter a table's constraints: batch mode rebuilds the table.
    with op.batch_alter_table("utility_reading", schema=None) as batch_op:
        batch_op.drop_constraint(drop[0], type_="unique")
        batch_op.create_unique_constraint(create[0], create[1])


def upgrade() -> None:
    _swap(_OLD, _NEW)


def downgrade() -> None:
    _swap(_NEW, _OLD)
