"""source_record cursor index: (source, updated_at, id)

Revision ID: 0008
Revises: 0007

The workflow producers (and any reader that walks one source's changes in order) read
``source_record`` from a watermark in (updated_at, id) order. Without an index on that
order, every page sorted the rest of the table: at a 20,000-person district, about 100
pages each reading every source record. With it, a page is one index seek.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source_record", schema=None) as batch_op:
        batch_op.create_index(
            "ix_source_record_cursor", ["source", "updated_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("source_record", schema=None) as batch_op:
        batch_op.drop_index("ix_source_record_cursor")
