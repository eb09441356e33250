"""person lookup indexes: phone, residential and registered address

Revision ID: 0007
Revises: 0006

A search by phone number (``GET /api/v1/persons?q=<phone>``) matched on ``person.phone`` with no
index, so PostgreSQL read every person in the caller's grid units (a thousand heap pages for
one grid) to find one row; with the index it is one probe. The two address links are the
foreign keys that ``ON DELETE SET NULL`` must follow when an address goes, and the way from an
address to the people who live there: unindexed, both scan the whole person table.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_person_phone", "phone"),
    ("ix_person_residential_address_id", "residential_address_id"),
    ("ix_person_registered_address_id", "registered_address_id"),
)


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        for name, column in _INDEXES:
            batch_op.create_index(name, [column], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        for name, _column in reversed(_INDEXES):
            batch_op.drop_index(name)
