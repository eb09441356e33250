"""The unified person (golden record), its identifiers, lineage and household.

Every golden field can be traced to the source record it came from (``PersonFieldLineage``);
competing values stay visible in ``conflicts`` instead of being silently dropped.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from canonical_model.base import Base, IdType, new_uid, utcnow
from canonical_model.enums import Gender, PersonStatus, str_enum
from canonical_model.geography import Address


class Household(Base):
    """A registered household (户), keyed by the registration system's household number."""

    __tablename__ = "household"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    household_no: Mapped[str | None] = mapped_column(String(40), unique=True)  # 户号
    address_id: Mapped[int | None] = mapped_column(ForeignKey("address.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    address: Mapped[Address | None] = relationship()
    members: Mapped[list[HouseholdMember]] = relationship(
        back_populates="household", cascade="all, delete-orphan"
    )


class Person(Base):
    """The golden record: one row per resident, whatever number of sources mention them."""

    __tablename__ = "person"
    __table_args__ = (
        Index("ix_person_resident_id", "resident_id"),
        Index("ix_person_name_pinyin", "name_pinyin"),
        Index("ix_person_phone", "phone"),  # migration 0007
        Index("ix_person_residential_address_id", "residential_address_id"),
        Index("ix_person_registered_address_id", "registered_address_id"),
        Index("ix_person_grid_pinyin", "grid_code", "name_pinyin"),  # migration 0009
        Index("ix_person_grid_uid", "grid_code", "uid"),  # migration 0012
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    uid: Mapped[str] = mapped_column(String(26), unique=True, default=new_uid)
    name: Mapped[str | None] = mapped_column(String(60))
    name_pinyin: Mapped[str | None] = mapped_column(String(200))
    resident_id: Mapped[str | None] = mapped_column(String(18))
    gender: Mapped[Gender] = mapped_column(str_enum(Gender, 1), default=Gender.UNKNOWN)
    birth_date: Mapped[date | None] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(32))
    residential_address_id: Mapped[int | None] = mapped_column(
        ForeignKey("address.id", ondelete="SET NULL")
    )
    registered_address_id: Mapped[int | None] = mapped_column(
        ForeignKey("address.id", ondelete="SET NULL")
    )
    grid_code: Mapped[str | None] = mapped_column(
        ForeignKey("grid_unit.code", ondelete="SET NULL"), index=True
    )
    tags: Mapped[list[str]] = mapped_column(default=list)  # elderly, living_alone, dibao, …
    flags: Mapped[list[str]] = mapped_column(default=list)  # insufficient_identifiers, …
    conflicts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # field → competing values
    status: Mapped[PersonStatus] = mapped_column(
        str_enum(PersonStatus), default=PersonStatus.ACTIVE
    )
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    residential_address: Mapped[Address | None] = relationship(
        foreign_keys=[residential_address_id]
    )
    registered_address: Mapped[Address | None] = relationship(foreign_keys=[registered_address_id])
    identifiers: Mapped[list[PersonIdentifier]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )
    lineage: Mapped[list[PersonFieldLineage]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )


class PersonIdentifier(Base):
    """Every identifier a person is known by (resident ID, legacy 15-digit ID, phone, …)."""

    __tablename__ = "person_identifier"
    __table_args__ = (
        UniqueConstraint("person_id", "kind", "value"),
        Index("ix_person_identifier_lookup", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    value: Mapped[str] = mapped_column(String(100))
    source_record_id: Mapped[int | None] = mapped_column(
        ForeignKey("source_record.id", ondelete="SET NULL")
    )

    person: Mapped[Person] = relationship(back_populates="identifiers")


class PersonFieldLineage(Base):
    """Which source record a golden field's value came from, and when it was chosen."""

    __tablename__ = "person_field_lineage"
    __table_args__ = (UniqueConstraint("person_id", "field"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(40))
    source_record_id: Mapped[int | None] = mapped_column(
        ForeignKey("source_record.id", ondelete="SET NULL")
    )
    rule: Mapped[str | None] = mapped_column(Text)  # why this source won (survivorship rule)
    chosen_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(back_populates="lineage")


class HouseholdMember(Base):
    __tablename__ = "household_member"
    __table_args__ = (UniqueConstraint("household_id", "person_id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    relation: Mapped[str | None] = mapped_column(String(20))  # relation to the head: 户主, 配偶, …

    household: Mapped[Household] = relationship(back_populates="members")
    person: Mapped[Person] = relationship()
