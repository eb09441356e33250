"""person.name_pinyin: a finer histogram, so name and pinyin searches keep the grid's index

Revision ID: 0011
Revises: 0010

A name or pinyin search is "pinyin key in a narrow range" (``wang f`` … ``wang g``) within the
caller's grid. With the default 100-bucket histogram over ~20,000 distinct keys, PostgreSQL
estimated such a range at one row district-wide, found ``ix_person_name_pinyin`` as cheap as
``ix_person_grid_pinyin`` and, for some keys, read every matching resident of the district
(745 heap pages for ``wang f`` at 1,000,000 persons, ~10 ms) to keep the one in the grid. With
1,000 buckets the range is estimated in the hundreds and every search measured (300 surnames,
300 full names, 300 pinyin prefixes) takes the composite index. The setting is
PostgreSQL-only and outside the models' schema (no drift); SQLite plans these searches from
the composite index already. ``ANALYZE`` applies it now instead of at the next analysis.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TARGET = 1000


def _set(target: int) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE person ALTER COLUMN name_pinyin SET STATISTICS {target}")
    op.execute("ANALYZE person (name_pinyin)")


def upgrade() -> None:
    _set(_TARGET)


def downgrade() -> None:
    _set(-1)  # the server's default_statistics_target again
