"""Mainland China telephone numbers: mobiles and landlines.

Contact numbers are the second-strongest link between records of one person, and the
same number arrives as ``+86 138-1234-5678``, ``（０１０）１２３４５６７８转８００１`` or
``12345678`` typed into a district system that assumes its own area code.  One normal
form per number makes them comparable; each rejection names why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from canonical_model.values.errors import InvalidPhone
from canonical_model.values.text import compose_halfwidth

__all__ = [
    "Phone",
    "PhoneKind",
    "is_valid_phone",
    "parse_phone",
]

PhoneKind = Literal["mobile", "landline"]

_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")
_LANDLINE_RE = re.compile(r"0(?:10|2[0-9]|[3-9][0-9]{2})-[1-9][0-9]{6,7}")
_AREA_RE = re.compile(r"0(?:10|2[0-9]|[3-9][0-9]{2})")
_EXT_RE = re.compile(r"[0-9]{1,6}")
_MAX_EXT = 6

# Dash look-alikes that IMEs and word processors substitute for "-".
_DASHES = {ord(c): "-" for c in "‐‑‒–—―−﹣－"}
#: Half-width then dashes in one table, and what it would change.
_FOLD, _FOLD_FINDS = compose_halfwidth(_DASHES)
_SEPARATORS = frozenset(" -.()/\t")
_EXT_MARKERS = ("转", "轉", "分机", "分機", "ext.", "ext", "x")


@dataclass(frozen=True, slots=True, repr=False)
class Phone:
    """A telephone number in normal form.

    ``number`` is ``13812345678`` for a mobile and ``010-12345678`` for a landline (area
    code with its trunk 0, a dash, the local number).  ``ext`` is an office extension,
    kept apart so that two people behind one switchboard still share ``number``.
    ``repr``/``str`` are masked; read ``.number`` when the real value is needed.
    """

    kind: PhoneKind
    number: str
    ext: str | None = None

    def __post_init__(self) -> None:
        pattern = _MOBILE_RE if self.kind == "mobile" else _LANDLINE_RE
        if self.kind not in ("mobile", "landline") or not pattern.fullmatch(self.number):
            raise InvalidPhone("format", f"number is not in normal {self.kind} form")
        if self.ext is not None and not _EXT_RE.fullmatch(self.ext):
            raise InvalidPhone("format", "extension must be 1-6 digits")

    @property
    def area_code(self) -> str | None:
        return self.number.partition("-")[0] if self.kind == "landline" else None

    @property
    def e164(self) -> str:
        """International form without extension, for SMS gateways and foreign systems."""
        return "+86" + self.number.replace("-", "")[1 if self.kind == "landline" else 0 :]

    def masked(self) -> str:
        """Last four digits visible, length kept; the extension is dropped."""
        if self.kind == "mobile":
            return f"{self.number[:3]}****{self.number[7:]}"
        area, _, local = self.number.partition("-")
        return f"{area}-{'*' * (len(local) - 4)}{local[-4:]}"

    def __repr__(self) -> str:
        return f"Phone({self.kind!r}, {self.masked()!r})"

    def __str__(self) -> str:
        return self.masked()


_setattr = object.__setattr__


def _make(kind: PhoneKind, number: str, ext: str | None) -> Phone:
    """Build without re-running ``__post_init__``: the parser has just validated."""
    phone = object.__new__(Phone)
    _setattr(phone, "kind", kind)
    _setattr(phone, "number", number)
    _setattr(phone, "ext", ext)
    return phone


def _split_ext(s: str) -> tuple[str, str | None]:
    lowered = s.lower()
    cut = -1
    marker = ""
    for m in _EXT_MARKERS:
        i = lowered.find(m)
        if i > 0 and (cut < 0 or i < cut):
            cut, marker = i, m
    if cut < 0:
        return s, None
    ext = s[cut + len(marker) :].strip(" .:：-")
    if not ext:
        raise InvalidPhone("length", "extension marker without an extension")
    if not (ext.isascii() and ext.isdigit()):
        raise InvalidPhone("characters", "extension must be digits only")
    if len(ext) > _MAX_EXT:
        raise InvalidPhone("length", f"extension has {len(ext)} digits, at most {_MAX_EXT}")
    return s[:cut], ext


def _digit_groups(main: str) -> list[str]:
    """Digit runs of the main part; rejects anything but digits, separators, a lead +."""
    groups: list[str] = []
    run: list[str] = []
    for pos, c in enumerate(main, 1):
        if "0" <= c <= "9":
            run.append(c)
            continue
        if c == "+" and not groups and not run:
            groups.append("+")
            continue
        if c not in _SEPARATORS:
            raise InvalidPhone("characters", f"character {pos} is not part of a phone number")
        if run:
            groups.append("".join(run))
            run = []
    if run:
        groups.append("".join(run))
    return groups


def _area_length(digits: str) -> int:
    """010 and 02x are three digits; every other area code is four (0xxx)."""
    return 3 if digits[1] in "12" else 4


def _landline(digits: str, groups: list[str], ext: str | None) -> Phone:
    if digits[1] == "0":
        raise InvalidPhone("prefix", "international prefix other than 0086")
    alen = _area_length(digits)
    area, local = digits[:alen], digits[alen:]
    if not _AREA_RE.fullmatch(area):
        raise InvalidPhone("area_code", "not a valid area code")
    local, ext = _tail_ext(local, groups, ext)
    return _local(area, local, ext)


def _tail_ext(local: str, groups: list[str], ext: str | None) -> tuple[str, str | None]:
    """010-12345678-8001: a trailing separated group that overflows the local number
    is the extension."""
    if len(local) > 8 and ext is None and len(groups) >= 2:
        tail = groups[-1]
        if len(tail) <= _MAX_EXT and len(local) - len(tail) in (7, 8):
            return local[: -len(tail)], tail
    return local, ext


def _local(area: str, local: str, ext: str | None) -> Phone:
    if len(local) not in (7, 8):
        raise InvalidPhone("length", f"local number has {len(local)} digits, expected 7 or 8")
    if local[0] == "0":
        # The numbering plan also reserves a leading 1 for service numbers, but
        # 010-12345678-style placeholders are everywhere in test and legacy data, and
        # rejecting them buys nothing: they are still unique keys.
        raise InvalidPhone("prefix", "local number cannot start with 0")
    return _make("landline", f"{area}-{local}", ext)


def _mobile(digits: str, ext: str | None) -> Phone:
    if len(digits) != 11:
        raise InvalidPhone("length", f"mobile has {len(digits)} digits, expected 11")
    if digits[1] not in "3456789":
        raise InvalidPhone("prefix", "mobile numbers start with 13-19")
    return _make("mobile", digits, ext)


def _looks_mobile(digits: str) -> bool:
    return len(digits) > 1 and digits[0] == "1" and digits[1] in "3456789"


def _default_area(code: str) -> str:
    area = code.strip().strip("()")
    if not area.startswith("0"):
        area = "0" + area
    if not _AREA_RE.fullmatch(area):
        raise InvalidPhone("area_code", "default area code is not a valid area code")
    return area


def parse_phone(text: str, *, default_area_code: str | None = None) -> Phone:
    """Normalise a mobile or landline number.

    Accepts ``+86``/``0086``/``86`` country prefixes, spaces, dashes, dots and
    parentheses (half- or full-width), extensions after ``转``/``分机``/``ext``/``x`` or
    as a trailing dash group, and a bare local number when ``default_area_code`` says
    which city it belongs to.
    """
    s = text.strip()
    if not s:
        raise InvalidPhone("empty", "no phone number given")
    if not s.isascii():
        if _FOLD_FINDS.search(s) is not None:
            s = s.translate(_FOLD)
    elif len(s) == 11 and s[0] == "1" and s.isdigit():
        return _mobile(s, None)  # the common case: a bare mobile
    main, ext = _split_ext(s)
    groups = _digit_groups(main)
    intl = bool(groups) and groups[0] == "+"
    if intl:
        groups = groups[1:]
    digits = "".join(groups)
    if not digits:
        raise InvalidPhone("characters", "no digits found")

    if intl:
        if not digits.startswith("86"):
            raise InvalidPhone("prefix", "only +86 (mainland China) numbers are supported")
        digits = digits[2:]
    elif digits.startswith("0086"):
        intl, digits = True, digits[4:]
    elif len(digits) == 13 and digits.startswith("861"):
        digits = digits[2:]
    # Abroad, area codes are dialled without their trunk 0: +86 10 12345678.
    if intl and digits and digits[0] != "0" and not _looks_mobile(digits):
        digits = "0" + digits
    if not digits:
        raise InvalidPhone("length", "country prefix without a number")

    if digits[0] == "1":
        return _mobile(digits, ext)
    if digits[0] == "0":
        if len(digits) == 12 and digits[1] == "1" and digits[2] in "3456789":
            return _mobile(digits[1:], ext)  # 0138...: trunk 0 once dialled before mobiles
        if len(digits) < 3:
            raise InvalidPhone("length", f"only {len(digits)} digits")
        return _landline(digits, groups, ext)
    local, ext = _tail_ext(digits, groups, ext)
    if len(local) not in (7, 8):
        raise InvalidPhone("length", f"{len(local)} digits: neither a mobile nor a landline")
    if default_area_code is None:
        raise InvalidPhone("area_code", "landline without area code and no default given")
    return _local(_default_area(default_area_code), local, ext)


def is_valid_phone(text: str, *, default_area_code: str | None = None) -> bool:
    try:
        parse_phone(text, default_area_code=default_area_code)
    except InvalidPhone:
        return False
    return True
