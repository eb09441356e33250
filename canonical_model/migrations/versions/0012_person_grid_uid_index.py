"""person (grid_code, uid) index: a grid worker's search walks its grid in uid order

Revision ID: 0012
Revises: 0011

A search's page is "the first 21 matches by uid within the caller's grids". For a condition no
index serves (an address fragment), PostgreSQL read every resident of the grid and their
addresses (~5,000 buffers, ~19 ms at 1,000,000 persons) and sorted them to keep 21. With this
index and the grid as an equality (``api.policy.Policy.bound_scope_parts``: a grid's own
rows are one branch, the units below it another), the grid's rows come in uid order and the
scan stops at the 21st match (~430 buffers, ~1.5 ms). Both stores get it (the models declare it).
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_person_grid_uid", "person", ["grid_code", "uid"])


def downgrade() -> None:
    op.drop_index("ix_person_grid_uid", table_name="person")
