"""Errors raised by the value parsers.

Every parser reports *which* field failed and a short machine ``reason`` so callers
(adapters, the resolution engine, data-quality reports) can count and route failures
without string matching.  The human ``detail`` is written into logs and exchange
records, so it must never echo the input: identity numbers, phones, names and
addresses are personal data.  Details may mention lengths and positions only.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "InvalidAddress",
    "InvalidName",
    "InvalidPhone",
    "InvalidResidentId",
    "InvalidValue",
]


class InvalidValue(ValueError):
    """A value that cannot be turned into its canonical form.

    Subclasses ``ValueError`` so generic ``except ValueError`` handlers (pydantic
    validators, CLI argument parsing) keep working.
    """

    field: str
    reason: str
    detail: str

    def __init__(self, field: str, reason: str, detail: str) -> None:
        super().__init__(field, reason, detail)
        self.field = field
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(field={self.field!r}, reason={self.reason!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take (reason, detail) only; rebuild through the base initialiser
        # so pickling (multiprocessing, Airflow XCom) works for every subclass.
        return (_rebuild, (type(self), self.field, self.reason, self.detail))


def _rebuild(cls: type[InvalidValue], field: str, reason: str, detail: str) -> InvalidValue:
    err = cls.__new__(cls)
    InvalidValue.__init__(err, field, reason, detail)
    return err


class _FieldError(InvalidValue):
    """Base for errors whose field name is fixed by the class."""

    FIELD = ""

    def __init__(self, reason: str, detail: str, *, field: str | None = None) -> None:
        super().__init__(field or self.FIELD, reason, detail)


class InvalidResidentId(_FieldError):
    """A resident identity card number (居民身份证号码) that fails GB 11643-1999."""

    FIELD = "resident_id"


class InvalidPhone(_FieldError):
    """A telephone number that is neither a mainland mobile nor a landline."""

    FIELD = "phone"


class InvalidAddress(_FieldError):
    """An address in which no component at all could be recognised."""

    FIELD = "address"


class InvalidName(_FieldError):
    """A personal name that cannot be a real name (digits, symbols, absurd length)."""

    FIELD = "name"
