"""Identifiers in clear or masked, decided once per request and applied field by field.

Masking itself is ``identity.masking``; this module only says which masker each field of a
response gets, so REST and gRPC show the same record the same way. Source keys and household
numbers are not identifiers by schema but often are in fact (户籍 keys *are* ID numbers), so
their long digit runs are masked too.
"""

from __future__ import annotations

import re
from datetime import date

from identity.masking import mask_address, mask_name, mask_phone, mask_resident_id

_DIGIT_RUN = re.compile(r"[0-9]{6,}[0-9Xx]?")

PERSON_FIELDS = (
    "name",
    "resident_id",
    "phone",
    "birth_date",
    "residential_address",
    "registered_address",
)
"""The personal fields a person view carries; logged with every read."""


def _keep_last4(match: re.Match[str]) -> str:
    run = match.group(0)
    return "*" * (len(run) - 4) + run[-4:]


class Redactor:
    """Applies the request's decision: ``clear`` shows identifiers, otherwise they are masked."""

    __slots__ = ("clear",)

    def __init__(self, clear: bool) -> None:
        self.clear = clear

    def name(self, value: str | None) -> str | None:
        if value is None or self.clear:
            return value
        return mask_name(value)

    def resident_id(self, value: str | None) -> str | None:
        if value is None or self.clear:
            return value
        return mask_resident_id(value)

    def phone(self, value: str | None) -> str | None:
        if value is None or self.clear:
            return value
        return mask_phone(value)

    def address(self, value: str | None) -> str | None:
        if value is None or self.clear:
            return value
        return mask_address(value)

    def birth_date(self, value: date | None) -> str | None:
        """The year is kept: an age band is what a grid worker needs without a purpose."""
        if value is None:
            return None
        return value.isoformat() if self.clear else f"{value.year:04d}"

    def key(self, value: str | None) -> str | None:
        if value is None or self.clear:
            return value
        return _DIGIT_RUN.sub(_keep_last4, value)


__all__ = ["PERSON_FIELDS", "Redactor"]
