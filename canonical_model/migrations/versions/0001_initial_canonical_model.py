"""initial canonical model

Revision ID: 0001
Revises:
Create Date: 2026-11-22 18:12:04.736987
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import canonical_model.base

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kid", sa.String(length=100), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoint")),
    )
    with op.batch_alter_table("audit_checkpoint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_checkpoint_seq"), ["seq"], unique=False)

    op.create_table(
        "exchange_log",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "direction",
            sa.Enum(
                "inbound",
                "outbound",
                "read",
                "admin",
                name="direction",
                native_enum=False,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("counterpart", sa.String(length=80), nullable=False),
        sa.Column("actor_subject", sa.String(length=120), nullable=False),
        sa.Column("actor_role", sa.String(length=30), nullable=True),
        sa.Column("purpose", sa.String(length=60), nullable=True),
        sa.Column("operation", sa.String(length=80), nullable=False),
        sa.Column(
            "object_refs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=True),
        sa.Column("result", sa.String(length=30), nullable=False),
        sa.Column("correlation_id", sa.String(length=80), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_exchange_log")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_exchange_log_entry_hash")),
    )
    with op.batch_alter_table("exchange_log", schema=None) as batch_op:
        batch_op.create_index("ix_exchange_log_actor", ["actor_subject", "at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_exchange_log_correlation_id"), ["correlation_id"], unique=False
        )
        batch_op.create_index("ix_exchange_log_counterpart", ["counterpart", "at"], unique=False)

    op.create_table(
        "grid_unit",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "level",
            sa.Enum(
                "district",
                "subdistrict",
                "community",
                "grid",
                "building",
                name="gridlevel",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("parent_code", sa.String(length=32), nullable=True),
        sa.Column("created_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_code"],
            ["grid_unit.code"],
            name=op.f("fk_grid_unit_parent_code_grid_unit"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_grid_unit")),
    )
    with op.batch_alter_table("grid_unit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grid_unit_parent_code"), ["parent_code"], unique=False)

    op.create_table(
        "quarantine",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("stream", sa.String(length=60), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("reason_code", sa.String(length=60), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "released",
                "discarded",
                name="quarantinestatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("received_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("released_at", canonical_model.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index("ix_quarantine_open", ["source", "stream", "status"], unique=False)

    op.create_table(
        "sync_state",
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("stream", sa.String(length=60), nullable=False),
        sa.Column(
            "cursor",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("records_seen", sa.Integer(), nullable=False),
        sa.Column("last_batch_id", sa.String(length=40), nullable=True),
        sa.Column("updated_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "stream", name=op.f("pk_sync_state")),
    )
    op.create_table(
        "address",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("province", sa.String(length=40), nullable=True),
        sa.Column("city", sa.String(length=40), nullable=True),
        sa.Column("district", sa.String(length=40), nullable=True),
        sa.Column("street", sa.String(length=60), nullable=True),
        sa.Column("community", sa.String(length=60), nullable=True),
        sa.Column("road", sa.String(length=60), nullable=True),
        sa.Column("lane", sa.String(length=20), nullable=True),
        sa.Column("number", sa.String(length=20), nullable=True),
        sa.Column("building", sa.String(length=20), nullable=True),
        sa.Column("unit", sa.String(length=20), nullable=True),
        sa.Column("room", sa.String(length=20), nullable=True),
        sa.Column("normalized", sa.String(length=300), nullable=False),
        sa.Column("building_code", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["building_code"],
            ["grid_unit.code"],
            name=op.f("fk_address_building_code_grid_unit"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address")),
    )
    with op.batch_alter_table("address", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_address_building_code"), ["building_code"], unique=False
        )
        batch_op.create_index("ix_address_normalized", ["normalized"], unique=False)

    op.create_table(
        "household",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("household_no", sa.String(length=40), nullable=True),
        sa.Column(
            "address_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["address_id"],
            ["address.id"],
            name=op.f("fk_household_address_id_address"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household")),
        sa.UniqueConstraint("household_no", name=op.f("uq_household_household_no")),
    )
    op.create_table(
        "person",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uid", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=True),
        sa.Column("name_pinyin", sa.String(length=200), nullable=True),
        sa.Column("resident_id", sa.String(length=18), nullable=True),
        sa.Column(
            "gender", sa.Enum("M", "F", "U", name="gender", native_enum=False), nullable=False
        ),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column(
            "residential_address_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column(
            "registered_address_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("grid_code", sa.String(length=32), nullable=True),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "flags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "conflicts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "moved_out",
                "deceased",
                "merged",
                name="personstatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "merged_into_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_code"],
            ["grid_unit.code"],
            name=op.f("fk_person_grid_code_grid_unit"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["person.id"], name=op.f("fk_person_merged_into_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["registered_address_id"],
            ["address.id"],
            name=op.f("fk_person_registered_address_id_address"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["residential_address_id"],
            ["address.id"],
            name=op.f("fk_person_residential_address_id_address"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
        sa.UniqueConstraint("uid", name=op.f("uq_person_uid")),
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_grid_code"), ["grid_code"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_person_merged_into_id"), ["merged_into_id"], unique=False
        )
        batch_op.create_index("ix_person_name_pinyin", ["name_pinyin"], unique=False)
        batch_op.create_index("ix_person_resident_id", ["resident_id"], unique=False)

    op.create_table(
        "event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uid", sa.String(length=26), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column(
            "severity",
            sa.Enum(
                "info",
                "low",
                "medium",
                "high",
                "emergency",
                name="severity",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("occurred_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "address_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("grid_code", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("source_ref", sa.String(length=200), nullable=True),
        sa.Column("dedup_key", sa.String(length=200), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("created_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["address_id"],
            ["address.id"],
            name=op.f("fk_event_address_id_address"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["grid_code"],
            ["grid_unit.code"],
            name=op.f("fk_event_grid_code_grid_unit"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_event_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
        sa.UniqueConstraint("uid", name=op.f("uq_event_uid")),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index("ix_event_dedup", ["dedup_key", "occurred_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_grid_code"), ["grid_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_person_id"), ["person_id"], unique=False)

    op.create_table(
        "household_member",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "household_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("relation", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["household.id"],
            name=op.f("fk_household_member_household_id_household"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_household_member_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household_member")),
        sa.UniqueConstraint(
            "household_id", "person_id", name=op.f("uq_household_member_household_id_person_id")
        ),
    )
    with op.batch_alter_table("household_member", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_household_member_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "source_record",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("stream", sa.String(length=60), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "canonical",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column("received_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_source_record_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_record")),
        sa.UniqueConstraint(
            "source", "stream", "source_key", name=op.f("uq_source_record_source_stream_source_key")
        ),
    )
    with op.batch_alter_table("source_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_source_record_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index("ix_source_record_unresolved", ["person_id", "source"], unique=False)

    op.create_table(
        "event_report",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("source_ref", sa.String(length=200), nullable=False),
        sa.Column("received_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["event.id"],
            name=op.f("fk_event_report_event_id_event"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_report")),
        sa.UniqueConstraint("source", "source_ref", name=op.f("uq_event_report_source_source_ref")),
    )
    with op.batch_alter_table("event_report", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_report_event_id"), ["event_id"], unique=False)

    op.create_table(
        "person_field_lineage",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column(
            "source_record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("rule", sa.Text(), nullable=True),
        sa.Column("chosen_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_person_field_lineage_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_record_id"],
            ["source_record.id"],
            name=op.f("fk_person_field_lineage_source_record_id_source_record"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_field_lineage")),
        sa.UniqueConstraint(
            "person_id", "field", name=op.f("uq_person_field_lineage_person_id_field")
        ),
    )
    op.create_table(
        "person_identifier",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("value", sa.String(length=100), nullable=False),
        sa.Column(
            "source_record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_person_identifier_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_record_id"],
            ["source_record.id"],
            name=op.f("fk_person_identifier_source_record_id_source_record"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_identifier")),
        sa.UniqueConstraint(
            "person_id", "kind", "value", name=op.f("uq_person_identifier_person_id_kind_value")
        ),
    )
    with op.batch_alter_table("person_identifier", schema=None) as batch_op:
        batch_op.create_index("ix_person_identifier_lookup", ["kind", "value"], unique=False)

    op.create_table(
        "source_record_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "source_record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column("received_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_record_id"],
            ["source_record.id"],
            name=op.f("fk_source_record_history_source_record_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_record_history")),
        sa.UniqueConstraint(
            "source_record_id",
            "version",
            name=op.f("uq_source_record_history_source_record_id_version"),
        ),
    )
    op.create_table(
        "task",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uid", sa.String(length=26), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.Column("priority", sa.String(length=20), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "accepted",
                "rejected",
                "in_progress",
                "completed",
                "closed",
                name="taskstate",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("sla_deadline", canonical_model.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("grid_code", sa.String(length=32), nullable=True),
        sa.Column("assignee", sa.String(length=80), nullable=True),
        sa.Column("assignee_kind", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("requester_source", sa.String(length=40), nullable=True),
        sa.Column("requester_ref", sa.String(length=200), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("created_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", canonical_model.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["event.id"], name=op.f("fk_task_event_id_event"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["grid_code"],
            ["grid_unit.code"],
            name=op.f("fk_task_grid_code_grid_unit"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_task_person_id_person"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task")),
        sa.UniqueConstraint("uid", name=op.f("uq_task_uid")),
    )
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_event_id"), ["event_id"], unique=False)
        batch_op.create_index("ix_task_grid_state", ["grid_code", "state"], unique=False)
        batch_op.create_index("ix_task_inbox", ["assignee", "state"], unique=False)
        batch_op.create_index(batch_op.f("ix_task_person_id"), ["person_id"], unique=False)
        batch_op.create_index("ix_task_sla", ["state", "sla_deadline"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("destination", sa.String(length=40), nullable=False),
        sa.Column("operation", sa.String(length=60), nullable=False),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "pending", "delivered", "dead", name="outboxstate", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", canonical_model.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=op.f("fk_outbox_task_id_task"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_task_id"), ["task_id"], unique=False)

    op.create_table(
        "task_feedback",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("result", sa.String(length=30), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=op.f("fk_task_feedback_task_id_task"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_feedback")),
    )
    with op.batch_alter_table("task_feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_feedback_task_id"), ["task_id"], unique=False)

    op.create_table(
        "task_transition",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "from_state",
            sa.Enum(
                "pending",
                "accepted",
                "rejected",
                "in_progress",
                "completed",
                "closed",
                name="taskstate",
                native_enum=False,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_state",
            sa.Enum(
                "pending",
                "accepted",
                "rejected",
                "in_progress",
                "completed",
                "closed",
                name="taskstate",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("actor_role", sa.String(length=30), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["task.id"],
            name=op.f("fk_task_transition_task_id_task"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_transition")),
    )
    with op.batch_alter_table("task_transition", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_transition_task_id"), ["task_id"], unique=False)

    op.create_table(
        "task_attachment",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "feedback_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["feedback_id"],
            ["task_feedback.id"],
            name=op.f("fk_task_attachment_feedback_id_task_feedback"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_attachment")),
        sa.UniqueConstraint(
            "feedback_id", "sha256", name=op.f("uq_task_attachment_feedback_id_sha256")
        ),
    )
    with op.batch_alter_table("task_attachment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_attachment_sha256"), ["sha256"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("task_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_attachment_sha256"))

    op.drop_table("task_attachment")
    with op.batch_alter_table("task_transition", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_transition_task_id"))

    op.drop_table("task_transition")
    with op.batch_alter_table("task_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_feedback_task_id"))

    op.drop_table("task_feedback")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_task_id"))
        batch_op.drop_index("ix_outbox_due")

    op.drop_table("outbox")
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index("ix_task_sla")
        batch_op.drop_index(batch_op.f("ix_task_person_id"))
        batch_op.drop_index("ix_task_inbox")
        batch_op.drop_index("ix_task_grid_state")
        batch_op.drop_index(batch_op.f("ix_task_event_id"))

    op.drop_table("task")
    op.drop_table("source_record_history")
    with op.batch_alter_table("person_identifier", schema=None) as batch_op:
        batch_op.drop_index("ix_person_identifier_lookup")

    op.drop_table("person_identifier")
    op.drop_table("person_field_lineage")
    with op.batch_alter_table("event_report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_report_event_id"))

    op.drop_table("event_report")
    with op.batch_alter_table("source_record", schema=None) as batch_op:
        batch_op.drop_index("ix_source_record_unresolved")
        batch_op.drop_index(batch_op.f("ix_source_record_batch_id"))

    op.drop_table("source_record")
    with op.batch_alter_table("household_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_household_member_person_id"))

    op.drop_table("household_member")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_person_id"))
        batch_op.drop_index(batch_op.f("ix_event_grid_code"))
        batch_op.drop_index("ix_event_dedup")

    op.drop_table("event")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index("ix_person_resident_id")
        batch_op.drop_index("ix_person_name_pinyin")
        batch_op.drop_index(batch_op.f("ix_person_merged_into_id"))
        batch_op.drop_index(batch_op.f("ix_person_grid_code"))

    op.drop_table("person")
    op.drop_table("household")
    with op.batch_alter_table("address", schema=None) as batch_op:
        batch_op.drop_index("ix_address_normalized")
        batch_op.drop_index(batch_op.f("ix_address_building_code"))

    op.drop_table("address")
    op.drop_table("sync_state")
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index("ix_quarantine_open")

    op.drop_table("quarantine")
    with op.batch_alter_table("grid_unit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grid_unit_parent_code"))

    op.drop_table("grid_unit")
    with op.batch_alter_table("exchange_log", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_log_counterpart")
        batch_op.drop_index(batch_op.f("ix_exchange_log_correlation_id"))
        batch_op.drop_index("ix_exchange_log_actor")

    op.drop_table("exchange_log")
    with op.batch_alter_table("audit_checkpoint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_checkpoint_seq"))

    op.drop_table("audit_checkpoint")
