"""workflow roster: grid workers, service organisations, rules versions, daily task stats

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import canonical_model.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = canonical_model.base.UTCDateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "grid_worker",
        sa.Column("id", _ID, nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("grid_code", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("skills", _json(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_code"],
            ["grid_unit.code"],
            name=op.f("fk_grid_worker_grid_code_grid_unit"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_worker")),
        sa.UniqueConstraint("code", name=op.f("uq_grid_worker_code")),
    )
    with op.batch_alter_table("grid_worker", schema=None) as batch_op:
        batch_op.create_index(
            "ix_grid_worker_duty", ["grid_code", "active", "on_duty"], unique=False
        )

    op.create_table(
        "service_organisation",
        sa.Column("id", _ID, nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("categories", _json(), nullable=False),
        sa.Column("area_codes", _json(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_organisation")),
        sa.UniqueConstraint("code", name=op.f("uq_service_organisation_code")),
    )

    op.create_table(
        "rules_version",
        sa.Column("id", _ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("source_name", sa.String(length=200), nullable=True),
        sa.Column("loaded_at", _TIME, nullable=False),
        sa.Column("loaded_by", sa.String(length=80), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rules_version")),
        sa.UniqueConstraint("version", name=op.f("uq_rules_version_version")),
    )
    with op.batch_alter_table("rules_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rules_version_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_rules_version_active"), ["active"], unique=False)

    op.create_table(
        "task_daily_stats",
        sa.Column("id", _ID, nullable=False),
        sa.Column("period", sa.String(length=5), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("grid_code", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.Column("party_kind", sa.String(length=20), nullable=False),
        sa.Column("party", sa.String(length=80), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "created",
                "responded",
                "completed",
                "resolved",
                "on_time",
                "with_deadline",
                "closed",
                "rated",
                "rating_sum",
                "satisfied",
                "good",
                "accepts",
                "rejects",
            )
        ),
        sa.Column("refreshed_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_daily_stats")),
        sa.UniqueConstraint(
            "period",
            "day",
            "grid_code",
            "category",
            "party_kind",
            "party",
            name="uq_task_daily_stats_key",
        ),
    )
    with op.batch_alter_table("task_daily_stats", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_daily_stats_party", ["party_kind", "party", "day"], unique=False
        )

    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index("ix_task_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_task_updated_at", ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index("ix_task_updated_at")
        batch_op.drop_index("ix_task_created_at")
    with op.batch_alter_table("task_daily_stats", schema=None) as batch_op:
        batch_op.drop_index("ix_task_daily_stats_party")
    op.drop_table("task_daily_stats")
    with op.batch_alter_table("rules_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rules_version_active"))
        batch_op.drop_index(batch_op.f("ix_rules_version_sha256"))
    op.drop_table("rules_version")
    op.drop_table("service_organisation")
    with op.batch_alter_table("grid_worker", schema=None) as batch_op:
        batch_op.drop_index("ix_grid_worker_duty")
    op.drop_table("grid_worker")
