"""Resident identity card numbers (居民身份证号码), GB 11643-1999.

The number is the strongest key the resolution engine has, so a wrong one must never
reach it: every structural rule is checked and each failure gets its own ``reason``.
The happy path avoids regexes and exceptions because bulk imports parse millions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal, NoReturn

from canonical_model.values.errors import InvalidResidentId
from canonical_model.values.text import to_halfwidth

__all__ = [
    "PROVINCE_CODES",
    "Gender",
    "ResidentId",
    "check_digit",
    "is_valid_resident_id",
    "parse_resident_id",
    "upgrade_legacy",
]

Gender = Literal["M", "F"]

#: First two digits of the region code: the provincial-level divisions of GB/T 2260,
#: plus 71/81/82/83 used for Taiwan, Hong Kong and Macao residents' documents.
PROVINCE_CODES = frozenset(
    [str(n) for n in range(11, 16)]
    + [str(n) for n in range(21, 24)]
    + [str(n) for n in range(31, 38)]
    + [str(n) for n in range(41, 47)]
    + [str(n) for n in range(50, 55)]
    + [str(n) for n in range(61, 66)]
    + ["71", "81", "82", "83"]
)

_CHECK_CHARS = "10X98765432"
_MIN_BIRTH = date(1900, 1, 1)
_DIGITS = frozenset("0123456789")
_ALLOWED = frozenset("0123456789Xx")


def check_digit(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits.

    The weight of digit j (0-based) is 2**(17-j) mod 11, and 13 ≡ 2 (mod 11), so twice
    the digits read as a base-13 number is the weighted sum modulo 11: one C-level
    ``int()`` call instead of a 17-step Python loop.
    """
    if len(first17) != 17:
        raise InvalidResidentId("length", f"check digit needs 17 digits, got {len(first17)}")
    if not (first17.isascii() and first17.isdigit()):
        raise InvalidResidentId("characters", "check digit input must be ASCII digits only")
    return _CHECK_CHARS[int(first17, 13) * 2 % 11]


def upgrade_legacy(id15: str) -> str:
    """The 18-digit form of a first-generation 15-digit number.

    15-digit numbers were issued only to people born in the 1900s, so the century is
    always 19.  Only the shape is checked here; ``parse_resident_id`` checks the rest.
    """
    s = to_halfwidth(id15.strip())
    if len(s) != 15:
        raise InvalidResidentId("length", f"legacy number needs 15 digits, got {len(s)}")
    if not (s.isascii() and s.isdigit()):
        raise InvalidResidentId("characters", "legacy number must be digits only")
    first17 = s[:6] + "19" + s[6:]
    return first17 + _CHECK_CHARS[int(first17, 13) * 2 % 11]


@dataclass(frozen=True, slots=True, repr=False)
class ResidentId:
    """A validated resident identity number and the facts encoded in it.

    ``legacy`` records provenance only and is excluded from equality, so the 15- and
    18-digit forms of one person's number compare (and hash) equal.  ``repr``/``str``
    are masked so the number does not leak into logs by accident; use ``.number``.
    Build instances with ``parse_resident_id``; the constructor re-validates.
    """

    number: str
    region_code: str
    birth_date: date
    gender: Gender
    legacy: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        parsed = _parse(self.number, None)
        if parsed is None:
            _raise_for(self.number, None)
        if (parsed.number, parsed.region_code, parsed.birth_date, parsed.gender) != (
            self.number,
            self.region_code,
            self.birth_date,
            self.gender,
        ):
            raise InvalidResidentId("inconsistent", "fields do not agree with the number")

    @property
    def province_code(self) -> str:
        return self.region_code[:2]

    def masked(self) -> str:
        """Region and sequence visible, birth date hidden: enough to tell people apart
        on a screen without disclosing the full number."""
        return f"{self.number[:6]}********{self.number[14:]}"

    def __repr__(self) -> str:
        return f"ResidentId({self.masked()!r})"

    def __str__(self) -> str:
        return self.masked()


_setattr = object.__setattr__


def _make(number: str, birth: date, legacy: bool) -> ResidentId:
    """Build without re-running ``__post_init__``: the caller has just validated."""
    rid = object.__new__(ResidentId)
    _setattr(rid, "number", number)
    _setattr(rid, "region_code", number[:6])
    _setattr(rid, "birth_date", birth)
    _setattr(rid, "gender", "M" if number[16] in "13579" else "F")
    _setattr(rid, "legacy", legacy)
    return rid


def _normalise(text: str) -> str:
    s = text.strip()
    if not s.isascii():
        s = to_halfwidth(s).strip()
    return s


# A day that is known not to be in the future.  Dates only move forward, so a birth
# date on or before it needs no clock read; only later ones re-read the clock.
_known_past = [date.today()]


def _after_today(born: date, today: date | None) -> bool:
    if today is not None:
        return born > today
    if born <= _known_past[0]:
        return False
    _known_past[0] = date.today()
    return born > _known_past[0]


def _birth(first17: str, today: date | None) -> date | None:
    try:
        born = date(int(first17[6:10]), int(first17[10:12]), int(first17[12:14]))
    except ValueError:
        return None
    if born < _MIN_BIRTH or _after_today(born, today):
        return None
    return born


def _parse(text: str, today: date | None) -> ResidentId | None:
    """The whole validation without exceptions; ``None`` means invalid."""
    s = _normalise(text)
    n = len(s)
    if n == 18:
        first17 = s[:17]
        if not (s.isascii() and first17.isdigit()):
            return None
        last = s[17]
        if last == "x":
            last = "X"
        if first17[:2] not in PROVINCE_CODES:
            return None
        if _CHECK_CHARS[int(first17, 13) * 2 % 11] != last:
            return None
        born = _birth(first17, today)
        if born is None:
            return None
        return _make(first17 + last, born, False)
    if n == 15:
        if not (s.isascii() and s.isdigit()) or s[:2] not in PROVINCE_CODES:
            return None
        first17 = s[:6] + "19" + s[6:]
        born = _birth(first17, today)
        if born is None:
            return None
        return _make(first17 + _CHECK_CHARS[int(first17, 13) * 2 % 11], born, True)
    return None


def _raise_for(text: str, today: date | None) -> NoReturn:
    """Find the first rule ``text`` breaks and raise for it (the slow, rare path)."""
    s = _normalise(text)
    if not s:
        raise InvalidResidentId("empty", "no resident id given")
    for pos, c in enumerate(s, 1):
        if c not in _ALLOWED:
            raise InvalidResidentId("characters", f"character {pos} is not a digit")
    n = len(s)
    if n not in (15, 18):
        raise InvalidResidentId("length", f"expected 18 characters (or 15 legacy), got {n}")
    for pos, c in enumerate(s[: n - 1] if n == 18 else s, 1):
        if c not in _DIGITS:
            where = "a 15-digit number" if n == 15 else f"position {pos}"
            raise InvalidResidentId("characters", f"X is not allowed in {where}")
    if s[:2] not in PROVINCE_CODES:
        raise InvalidResidentId("region", "first two digits are not a province code")
    first17 = s[:17] if n == 18 else s[:6] + "19" + s[6:]
    try:
        born = date(int(first17[6:10]), int(first17[10:12]), int(first17[12:14]))
    except ValueError:
        raise InvalidResidentId("birth_date", "birth date is not a calendar date") from None
    if born < _MIN_BIRTH:
        raise InvalidResidentId("birth_date", "birth date is before 1900-01-01")
    if _after_today(born, today):
        raise InvalidResidentId("birth_date", "birth date is in the future")
    if n == 18 and _CHECK_CHARS[int(first17, 13) * 2 % 11] != s[17].upper():
        raise InvalidResidentId("check_digit", "check digit does not match")
    raise AssertionError("_parse rejected a number that breaks no rule")  # pragma: no cover


def parse_resident_id(text: str, *, today: date | None = None) -> ResidentId:
    """Validate and decode an identity number.

    Accepts surrounding whitespace, full-width digits, a lowercase ``x`` and the
    15-digit first-generation form (upgraded to 18 digits, ``legacy=True``).
    ``today`` bounds the birth date; pass it to make results reproducible.
    """
    rid = _parse(text, today)
    if rid is None:
        _raise_for(text, today)
    return rid


def is_valid_resident_id(text: str, *, today: date | None = None) -> bool:
    """Whether ``parse_resident_id`` would succeed, without building an exception."""
    return _parse(text, today) is not None
