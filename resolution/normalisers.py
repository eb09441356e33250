"""Normaliser steps named in profiles, turning raw cell text into comparable keys.

Steps run once per *distinct* raw value (see ``resolution.features``), so they may be
plain Python.  A step takes what the previous one returned: most take and give ``str``,
``cn_address`` gives parsed parts that ``parts:`` picks from, which lets several features
share one address parse.  ``None`` means "missing" and short-circuits the chain.
Chinese-specific steps live in ``resolution.cn_normalisers`` and are loaded on first use,
so the FEBRL profile runs without the Chinese value parsers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import Any

__all__ = ["Step", "make_step", "run_steps", "step_names"]

Step = Callable[[Any], Any]

_SPACES = re.compile(r"\s+")
_DATE_PARTS = re.compile(r"^(\d{4})\D{1,2}(\d{1,2})\D{1,2}(\d{1,2})\D?$")
_NOT_DIGIT = re.compile(r"\D+")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")


def _strip(value: Any) -> str | None:
    text = _SPACES.sub(" ", unicodedata.normalize("NFKC", str(value))).strip()
    return text or None


def _lower(value: Any) -> str:
    return str(value).lower()


def _upper(value: Any) -> str:
    return str(value).upper()


def _digits(value: Any) -> str | None:
    return _NOT_DIGIT.sub("", str(value)) or None


def _alnum(value: Any) -> str | None:
    return _NOT_ALNUM.sub("", str(value)).upper() or None


def _nospace(value: Any) -> str | None:
    return str(value).replace(" ", "") or None


def _date(value: Any) -> str | None:
    """YYYYMMDD from the spellings source systems use (2001-2-3, 2001/02/03, 2001年2月3日).

    Impossible dates (month 13) are kept as digits: a typo'd date is still evidence for a
    one-edit comparison level, and dropping it would throw that away.
    """
    text = unicodedata.normalize("NFKC", str(value)).strip()
    text = text.split(" ")[0].split("T")[0]
    match = _DATE_PARTS.match(text)
    if match:
        year, month, day = match.groups()
        return f"{year}{int(month):02d}{int(day):02d}"
    digits = _NOT_DIGIT.sub("", text)
    return digits if len(digits) == 8 else None


def _prefix(arg: str) -> Step:
    n = int(arg)
    return lambda v: str(v)[:n] if len(str(v)) >= n else None


def _suffix(arg: str) -> Step:
    n = int(arg)
    return lambda v: str(v)[-n:] if len(str(v)) >= n else None


def _min_length(arg: str) -> Step:
    n = int(arg)
    return lambda v: v if len(str(v)) >= n else None


def _null_values(arg: str) -> Step:
    nulls = frozenset(x.strip().lower() for x in arg.split("|"))
    return lambda v: None if str(v).strip().lower() in nulls else v


_SIMPLE: dict[str, Step] = {
    "strip": _strip,
    "lower": _lower,
    "upper": _upper,
    "digits": _digits,
    "alnum": _alnum,
    "nospace": _nospace,
    "date": _date,
}
_WITH_ARG: dict[str, Callable[[str], Step]] = {
    "prefix": _prefix,
    "suffix": _suffix,
    "min_length": _min_length,
    "null_values": _null_values,
}


def step_names() -> list[str]:
    from resolution import cn_normalisers

    return sorted([*_SIMPLE, *_WITH_ARG, *cn_normalisers.SIMPLE, *cn_normalisers.WITH_ARG])


@lru_cache(maxsize=512)
def make_step(spec: str) -> Step:
    """The step a profile names, e.g. ``strip``, ``prefix:4`` or ``parts:building,room``."""
    name, _, arg = spec.partition(":")
    if name in _SIMPLE and not arg:
        return _SIMPLE[name]
    if name in _WITH_ARG and arg:
        return _WITH_ARG[name](arg)
    from resolution import cn_normalisers  # imported lazily: needs canonical_model.values

    if name in cn_normalisers.SIMPLE and not arg:
        return cn_normalisers.SIMPLE[name]
    if name in cn_normalisers.WITH_ARG and arg:
        return cn_normalisers.WITH_ARG[name](arg)
    raise ValueError(f"unknown normaliser step {spec!r}")


def run_steps(value: Any, steps: list[Step]) -> Any:
    """Apply ``steps`` in order; ``None`` (missing) stops the chain."""
    for step in steps:
        if value is None:
            return None
        value = step(value)
    return value
