"""device registry: installed devices, the person and building each watches over

Revision ID: 0005
Revises: 0004

The device bridge maps every reading to a person and a building through this table, and
keeps ``last_seen_at`` / ``last_activity_at`` here so silence and inactivity survive a
restart of the bridge (see ``canonical_model.devices``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import canonical_model.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = canonical_model.base.UTCDateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "device",
        sa.Column("id", _ID, nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("gateway", sa.String(length=64), nullable=False),
        sa.Column("protocol", sa.String(length=10), nullable=False),
        sa.Column("building_code", sa.String(length=32), nullable=True),
        sa.Column("address_id", _ID, nullable=True),
        sa.Column("person_id", _ID, nullable=True),
        sa.Column("heartbeat_s", sa.Integer(), nullable=False),
        sa.Column("thresholds", _json(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_seen_at", _TIME, nullable=True),
        sa.Column("last_activity_at", _TIME, nullable=True),
        sa.Column("installed_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["address_id"],
            ["address.id"],
            name=op.f("fk_device_address_id_address"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["building_code"],
            ["grid_unit.code"],
            name=op.f("fk_device_building_code_grid_unit"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_device_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device")),
        sa.UniqueConstraint("device_id", name=op.f("uq_device_device_id")),
    )
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.create_index("ix_device_gateway", ["gateway", "active"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_device_building_code"), ["building_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_device_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_person_id"))
        batch_op.drop_index(batch_op.f("ix_device_building_code"))
        batch_op.drop_index("ix_device_gateway")
    op.drop_table("device")
