"""utility readings: one narrow row per account, utility and day

Revision ID: 0004
Revises: 0003

Meter readings arrive by the million; they live beside the source records rather than as
source records (see ``canonical_model.utility``). The unique key is what a company's file
may deliver twice — the same account's reading for the same day — so re-loading a file is
an upsert, never a duplicate.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "utility_reading",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("reading_date", sa.Date(), nullable=False),
        sa.Column("usage", sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=False),
        sa.Column(
            "meter_reading", sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=True
        ),
        sa.Column("address_normalized", sa.String(length=300), nullable=True),
        sa.Column("source_file", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_utility_reading")),
        sa.UniqueConstraint(
            "kind",
            "account",
            "reading_date",
            name=op.f("uq_utility_reading_kind_account_reading_date"),
        ),
    )


def downgrade() -> None:
    op.drop_table("utility_reading")
