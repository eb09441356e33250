"""Where things are: the grid hierarchy and structured addresses.

Grid-unit codes are hierarchical strings (a child's code starts with its parent's), so
"everything in this community" is a prefix query and scope checks need no tree walk.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from canonical_model.base import Base, IdType, utcnow
from canonical_model.enums import GridLevel, str_enum


class GridUnit(Base):
    """District → subdistrict (街道/镇) → community (社区/村) → grid (网格) → building (楼栋)."""

    __tablename__ = "grid_unit"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[GridLevel] = mapped_column(str_enum(GridLevel))
    parent_code: Mapped[str | None] = mapped_column(
        ForeignKey("grid_unit.code", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    parent: Mapped[GridUnit | None] = relationship(remote_side=[code])


class Address(Base):
    """A structured Chinese address; ``normalized`` is the canonical text used for matching."""

    __tablename__ = "address"
    __table_args__ = (Index("ix_address_normalized", "normalized"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    province: Mapped[str | None] = mapped_column(String(40))
    city: Mapped[str | None] = mapped_column(String(40))
    district: Mapped[str | None] = mapped_column(String(40))
    street: Mapped[str | None] = mapped_column(String(60))  # 街道/镇
    community: Mapped[str | None] = mapped_column(String(60))  # 社区/村
    road: Mapped[str | None] = mapped_column(String(60))
    lane: Mapped[str | None] = mapped_column(String(20))  # 弄
    number: Mapped[str | None] = mapped_column(String(20))  # 号
    building: Mapped[str | None] = mapped_column(String(20))  # 栋/幢/号楼
    unit: Mapped[str | None] = mapped_column(String(20))  # 单元
    room: Mapped[str | None] = mapped_column(String(20))  # 室
    normalized: Mapped[str] = mapped_column(String(300))
    building_code: Mapped[str | None] = mapped_column(
        ForeignKey("grid_unit.code", ondelete="SET NULL"), index=True
    )

    building_unit: Mapped[GridUnit | None] = relationship()
