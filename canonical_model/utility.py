"""Daily meter readings from the water, power and gas companies, in their own narrow table.

A district receives one reading per account per day from each company: millions of rows a
month. Stored as source records they would each pay for a JSON payload, a content hash and a
version; here a reading is one small row, keyed by what makes it unique, so a re-delivered
file overwrites instead of duplicating. The account itself (holder, address) is a source
record like any other; a reading links to it only through ``kind`` + ``account``.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from canonical_model.base import Base, IdType

__all__ = ["UTILITY_KINDS", "UtilityReading"]

#: The utilities a reading can come from; stored as plain strings (no migration per kind).
UTILITY_KINDS: tuple[str, ...] = ("water", "power", "gas")

# Meter figures carry three decimals at most (m³, kWh); exact on PostgreSQL, returned as float
# so the loader and the anomaly rules need no Decimal arithmetic.
_Quantity = Numeric(14, 3, asdecimal=False)


class UtilityReading(Base):
    __tablename__ = "utility_reading"
    # Day before account: a day's file appends to the index instead of touching every page
    # of it (migration 0012); the ON CONFLICT target is the same three columns.
    __table_args__ = (UniqueConstraint("kind", "reading_date", "account"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # water, power, gas
    account: Mapped[str] = mapped_column(String(40))  # the company's account number
    reading_date: Mapped[date] = mapped_column(Date)
    usage: Mapped[float] = mapped_column(_Quantity)  # consumption that day (m³ or kWh)
    meter_reading: Mapped[float | None] = mapped_column(_Quantity)  # the meter's total
    address_normalized: Mapped[str | None] = mapped_column(String(300))
    source_file: Mapped[str] = mapped_column(String(200))  # the file the row came from
