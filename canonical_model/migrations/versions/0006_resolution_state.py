"""resolution state: review queue, merge history, constraints, model and person index

Revision ID: 0006
Revises: 0005

The master person index keeps what a resolution run must not forget: a clerk's decisions
(``match_review``) and the must-link / cannot-link rules they leave
(``resolution_constraint``), every merge and unmerge with the snapshot that undoes it
(``person_merge_log``), the fitted model (``resolution_model``), and the index that matches
one new record without a batch run: normalised features per record (``resolution_entry``),
hashed blocking keys (``resolution_block``) and hashed term counts (``resolution_term``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import canonical_model.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resolution_model",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("profile", sa.String(length=60), nullable=False),
        sa.Column("model_json", sa.Text(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("fitted_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resolution_model")),
    )
    with op.batch_alter_table("resolution_model", schema=None) as batch_op:
        batch_op.create_index("ix_resolution_model_profile", ["profile", "active"], unique=False)

    op.create_table(
        "resolution_term",
        sa.Column("key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_resolution_term")),
    )
    op.create_table(
        "match_review",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uid", sa.String(length=26), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column(
            "left_record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "right_record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("match_weight", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column(
            "levels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "accepted",
                "rejected",
                "withdrawn",
                name="reviewstatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("decided_at", canonical_model.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["left_record_id"],
            ["source_record.id"],
            name=op.f("fk_match_review_left_record_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_match_review_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["right_record_id"],
            ["source_record.id"],
            name=op.f("fk_match_review_right_record_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_review")),
        sa.UniqueConstraint(
            "left_record_id",
            "right_record_id",
            name=op.f("uq_match_review_left_record_id_right_record_id"),
        ),
        sa.UniqueConstraint("uid", name=op.f("uq_match_review_uid")),
    )
    with op.batch_alter_table("match_review", schema=None) as batch_op:
        batch_op.create_index("ix_match_review_queue", ["status", "score"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_match_review_right_record_id"), ["right_record_id"], unique=False
        )

    op.create_table(
        "resolution_block",
        sa.Column("key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "source_record_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["source_record_id"],
            ["source_record.id"],
            name=op.f("fk_resolution_block_source_record_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", "source_record_id", name=op.f("pk_resolution_block")),
    )
    with op.batch_alter_table("resolution_block", schema=None) as batch_op:
        batch_op.create_index("ix_resolution_block_record", ["source_record_id"], unique=False)

    op.create_table(
        "resolution_entry",
        sa.Column(
            "source_record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sufficient", sa.Boolean(), nullable=False),
        sa.Column(
            "features",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["source_record_id"],
            ["source_record.id"],
            name=op.f("fk_resolution_entry_source_record_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_record_id", name=op.f("pk_resolution_entry")),
    )
    op.create_table(
        "person_merge_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uid", sa.String(length=26), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column(
            "from_person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "into_person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("review_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("undoes_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "undone_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "snapshot",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_person_id"],
            ["person.id"],
            name=op.f("fk_person_merge_log_from_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["into_person_id"],
            ["person.id"],
            name=op.f("fk_person_merge_log_into_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["match_review.id"],
            name=op.f("fk_person_merge_log_review_id_match_review"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["undoes_id"],
            ["person_merge_log.id"],
            name=op.f("fk_person_merge_log_undoes_id_person_merge_log"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["undone_by_id"],
            ["person_merge_log.id"],
            name=op.f("fk_person_merge_log_undone_by_id_person_merge_log"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_merge_log")),
        sa.UniqueConstraint("uid", name=op.f("uq_person_merge_log_uid")),
    )
    with op.batch_alter_table("person_merge_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_person_merge_log_from_person_id"), ["from_person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_person_merge_log_into_person_id"), ["into_person_id"], unique=False
        )

    op.create_table(
        "resolution_constraint",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "must_link", "cannot_link", name="constraintkind", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column(
            "left_record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "right_record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("review_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "merge_log_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", canonical_model.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["left_record_id"],
            ["source_record.id"],
            name=op.f("fk_resolution_constraint_left_record_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merge_log_id"],
            ["person_merge_log.id"],
            name=op.f("fk_resolution_constraint_merge_log_id_person_merge_log"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["match_review.id"],
            name=op.f("fk_resolution_constraint_review_id_match_review"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["right_record_id"],
            ["source_record.id"],
            name=op.f("fk_resolution_constraint_right_record_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resolution_constraint")),
    )
    with op.batch_alter_table("resolution_constraint", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resolution_constraint_merge_log_id"), ["merge_log_id"], unique=False
        )
        batch_op.create_index(
            "ix_resolution_constraint_pair", ["left_record_id", "right_record_id"], unique=False
        )
        batch_op.create_index("ix_resolution_constraint_right", ["right_record_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("resolution_constraint", schema=None) as batch_op:
        batch_op.drop_index("ix_resolution_constraint_right")
        batch_op.drop_index("ix_resolution_constraint_pair")
        batch_op.drop_index(batch_op.f("ix_resolution_constraint_merge_log_id"))

    op.drop_table("resolution_constraint")
    with op.batch_alter_table("person_merge_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_merge_log_into_person_id"))
        batch_op.drop_index(batch_op.f("ix_person_merge_log_from_person_id"))

    op.drop_table("person_merge_log")
    op.drop_table("resolution_entry")
    with op.batch_alter_table("resolution_block", schema=None) as batch_op:
        batch_op.drop_index("ix_resolution_block_record")

    op.drop_table("resolution_block")
    with op.batch_alter_table("match_review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_match_review_right_record_id"))
        batch_op.drop_index("ix_match_review_queue")

    op.drop_table("match_review")
    op.drop_table("resolution_term")
    with op.batch_alter_table("resolution_model", schema=None) as batch_op:
        batch_op.drop_index("ix_resolution_model_profile")

    op.drop_table("resolution_model")
