"""Grid unit codes and the one rule for "scope A covers unit B".

Codes are digit strings built from fixed-width segments, coarse to fine:

====== ============ ===============================================
digits level        source
====== ============ ===============================================
6      district     区/县, GB/T 2260 (e.g. ``330106`` 杭州市西湖区)
9      subdistrict  街道/乡镇, statistical division code
12     community    社区/村, statistical division code
15     grid         网格, community code + 3-digit grid serial
18     micro-grid   微网格, grid code + 3-digit serial
====== ============ ===============================================

**Rule:** ``covers(scope, target)`` is true iff both are well-formed codes and ``target`` starts
with ``scope`` (a unit covers itself and everything below it). ``*`` covers every well-formed
code. Because a well-formed code always ends on a segment boundary (6 + 3k digits), a textual
prefix is always an administrative ancestor: ``330106001`` covers ``330106001001`` but a
malformed ``33010600`` can never be a scope, so it cannot bleed from subdistrict ``…001`` into
``…002``. Anything malformed covers nothing and is covered by nothing: fail closed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import IntEnum

ALL_GRIDS = "*"
"""The wildcard scope; only the ``platform`` role may hold it (see ``roles``)."""

_CODE = re.compile(r"[0-9]{6}(?:[0-9]{3}){0,4}")


class Level(IntEnum):
    """A level is named by its code length, so comparing levels compares depth."""

    DISTRICT = 6
    SUBDISTRICT = 9
    COMMUNITY = 12
    GRID = 15
    MICRO_GRID = 18


def is_grid_code(code: str) -> bool:
    return _CODE.fullmatch(code) is not None


def level_of(code: str) -> Level:
    """Raise ``ValueError`` for a malformed code, so callers never guess a level."""
    if not is_grid_code(code):
        raise ValueError("malformed grid code")
    return Level(len(code))


def covers(scope: str, target: str) -> bool:
    if not is_grid_code(target):
        return False
    if scope == ALL_GRIDS:
        return True
    return is_grid_code(scope) and target.startswith(scope)


def covers_any(scopes: Iterable[str], target: str) -> bool:
    return any(covers(scope, target) for scope in scopes)


__all__ = ["ALL_GRIDS", "Level", "covers", "covers_any", "is_grid_code", "level_of"]
