"""Chinese postal addresses split into administrative and house-level parts.

The hub matches people and households across systems that each write addresses their
own way (``杭州市西湖区文一西路8号3#楼201`` vs ``文一西路八号3幢201室``).  Matching
needs the parts, not the string, so this is a small left-to-right scanner driven by
suffix tables: each place name ends in a suffix that says its level (省, 市, 区, 街道,
社区, 路, 弄, 号, 栋, 单元, 室).  No gazetteer is consulted beyond the province
list, so a name without its suffix (``南京玄武区``) stays fused; see ``parse_address``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from canonical_model.values._address_shapes import Shapes
from canonical_model.values._address_tables import (
    ALNUM,
    ALSO_DISTRICT,
    DASHES,
    DIRECTIONS,
    HOUSE_SUFFIXES,
    MUNICIPALITIES,
    PROVINCE_BY_HEAD,
    PROVINCE_TAILS,
    RANK,
    SEPARATORS,
    SUFFIXES,
)
from canonical_model.values.errors import InvalidAddress
from canonical_model.values.text import CN_NUMERAL_CHARS, cn_numeral_to_int, compose_halfwidth
from canonical_model.values.text import to_simplified as _simplify

__all__ = ["LEVELS", "AddressParts", "address_parts", "normalize_address", "parse_address"]


@dataclass(frozen=True, slots=True)
class AddressParts:
    """An address by component, each in canonical spelling (simplified, Arabic digits).

    Name levels keep their suffix (``西湖区``, ``文一西路``); house levels are bare
    values (``number="8"``, ``room="302"``).  ``estate`` (小区/花园/大厦: the named
    compound) is not an administrative level but is how many addresses are written.
    A municipality fills both ``province`` and ``city`` with the same name, so code
    that asks for "the city" works for Shanghai as well as for Hangzhou.
    """

    province: str | None = None
    city: str | None = None
    district: str | None = None
    street: str | None = None
    community: str | None = None
    road: str | None = None
    lane: str | None = None
    number: str | None = None
    building: str | None = None
    unit: str | None = None
    room: str | None = None
    estate: str | None = None

    @property
    def normalized(self) -> str:
        """Canonical text: the parts in administrative order, each with one suffix."""
        return _normalized({name: getattr(self, name) for name in LEVELS})

    def key(self) -> tuple[str, str, str, str, str, str, str]:
        """Fixed-width tuple for blocking and matching (``""`` where unknown).

        ``(area, anchor, lane, number, building, unit, room)``: the area is the most
        precise administrative level present, because sources disagree on whether to
        write province and city at all; the anchor is the road if any, else the
        estate, community or street, because 街道/社区 are usually omitted when a road
        is given.  Two addresses written in different styles share a key when they
        name the same dwelling.
        """
        area = self.district or self.city or self.province or ""
        anchor = self.road or self.estate or self.community or self.street or ""
        return (
            area,
            anchor,
            self.lane or "",
            self.number or "",
            self.building or "",
            self.unit or "",
            self.room or "",
        )

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


#: The parts in administrative order (the fields of ``AddressParts``), as ``address_parts``
#: orders the parts it returns.
LEVELS: tuple[str, ...] = tuple(f.name for f in fields(AddressParts))


def _normalized(parts: Mapping[str, str | None]) -> str:
    """Canonical text of parts by level (absent or None: not written)."""
    get = parts.get
    province, city = get("province"), get("city")
    lane, number, building = get("lane"), get("number"), get("building")
    unit, room = get("unit"), get("room")
    return "".join(
        (
            province or "",
            city if city and city != province else "",
            get("district") or "",
            get("street") or "",
            get("community") or "",
            get("road") or "",
            f"{lane}弄" if lane else "",
            f"{number}号" if number else "",
            get("estate") or "",
            f"{building}栋" if building else "",
            f"{unit}单元" if unit else "",
            f"{room}室" if room else "",
        )
    )


#: Where a house token can start (``_house`` returns None elsewhere) and where a name stops.
_HOUSE_START = ALNUM | CN_NUMERAL_CHARS
_NAME_STOP = SEPARATORS | ALNUM | frozenset("#-")


def _char_class(chars: frozenset[str]) -> str:
    return "[" + "".join(re.escape(c) for c in sorted(chars)) + "]"


#: The scanner is pure Python, so it steps only onto characters that can change its mind;
#: the regular expressions skip the rest (most of a place name) in C.
#: A name ends or may end at: a stop, a numeral (a house value may start), a suffix's start.
_NAME_EVENT = re.compile(_char_class(_NAME_STOP | CN_NUMERAL_CHARS | frozenset(SUFFIXES)))
#: A house value: letters and digits, or a dash group of them (3-2-302).
_HOUSE_VALUES = re.compile("[0-9A-Za-z]+(?:-[0-9A-Za-z]+)*")
_NUMERAL_RUN = re.compile(_char_class(CN_NUMERAL_CHARS) + "+")
#: House suffixes by first character, longest first as in ``HOUSE_SUFFIXES``.
_HOUSE_BY_FIRST: dict[str, tuple[tuple[str, str], ...]] = {}
for _suffix, _kind in HOUSE_SUFFIXES:
    _HOUSE_BY_FIRST[_suffix[0]] = (*_HOUSE_BY_FIRST.get(_suffix[0], ()), (_suffix, _kind))


#: Half-width then dashes in one table, and what it would change (usually nothing).
_PREPARE, _PREPARE_FINDS = compose_halfwidth(DASHES)


def _prepare(text: str) -> str:
    s = text.strip()
    if not s.isascii():
        if _PREPARE_FINDS.search(s) is not None:
            s = s.translate(_PREPARE)
        s = _simplify(s)
    return s


def _house_suffix(s: str, i: int) -> tuple[str, str] | None:
    for suffix, kind in _HOUSE_BY_FIRST.get(s[i : i + 1], ()):
        if s.startswith(suffix, i):
            return suffix, kind
    return None


def _numeral_run(s: str, i: int) -> tuple[str, int] | None:
    """A Chinese numeral at ``i`` that is a house value: it must precede a house suffix,
    so road names such as 文一西路 or 五四路 keep their numerals."""
    m = _NUMERAL_RUN.match(s, i)
    if m is None:
        return None
    j = m.end()
    if _house_suffix(s, j) is None:
        return None
    value = cn_numeral_to_int(s[i:j])
    return (str(value), j) if value is not None else None


#: The scanner's state (parts found, stage, last level) after an address's *head*: the text
#: before its first ASCII letter or digit, when that is a digit (杭州市西湖区文三路|489号…).
#: Scanning a head reads beyond it only to ask whether the next character is a digit, a
#: letter, a separator or the start of a suffix, and a digit answers each question the same
#: way whichever digit it is; nothing scanned after the head looks back into it. So the state
#: depends on the head alone, and a district's few hundred heads are scanned once each.
_HEADS: dict[str, tuple[tuple[tuple[str, str], ...], int, str]] = {}
_HEADS_MAX = 8192
_HEAD_END = re.compile("[0-9A-Za-z]")
#: (What the argument takes for granted about digits is checked by test_values_address_heads.)
_DIGITS = frozenset("0123456789")


class _Scanner:
    """One pass over a prepared address; fills ``found`` level by level."""

    __slots__ = ("found", "last", "s", "stage")

    def __init__(self, s: str) -> None:
        self.s = s
        self.found: dict[str, str] = {}
        self.stage = 0  # lowest administrative level still assignable
        self.last = ""  # level of the previous component, for context rules

    def put(self, level: str, value: str) -> bool:
        if level in self.found:
            return False
        self.found[level] = value
        self.last = level
        if level != "estate" and RANK[level] >= self.stage:
            self.stage = RANK[level] + 1
        return True

    def run(self) -> dict[str, str]:
        """Scan ``s``; the head (see ``_HEADS``) is scanned once per distinct head."""
        s = self.s
        m = _HEAD_END.search(s)
        if m is None or s[m.start()] not in _DIGITS:
            return self._scan(self._province(), len(s))
        head = s[: m.start()]
        known = _HEADS.get(head)
        if known is None:
            self._scan(self._province(), len(head))
            if len(_HEADS) >= _HEADS_MAX:
                _HEADS.clear()
            _HEADS[head] = (tuple(self.found.items()), self.stage, self.last)
        else:
            found, self.stage, self.last = known
            self.found = dict(found)
        return self._scan(len(head), len(s))

    def _scan(self, pos: int, stop: int) -> dict[str, str]:
        """Consume ``s`` from ``pos`` up to ``stop``; no step crosses ``stop`` when ``stop``
        is where a head ends (every token there ends before its first ASCII digit)."""
        s = self.s
        while pos < stop:
            c = s[pos]
            if c in SEPARATORS:
                pos += 1
            elif c in _HOUSE_START and (end := self._house(pos)) is not None:
                pos = end
            else:
                pos = self._name(pos)
        return self.found

    def _province(self) -> int:
        s = self.s
        hit = PROVINCE_BY_HEAD.get(s[:2])
        if hit is None or not s.startswith(hit[0]):
            return 0
        short, full = hit
        end = len(short)
        tail = next((t for t in PROVINCE_TAILS if s.startswith(t, end)), "")
        if tail == "市" and full not in MUNICIPALITIES:
            return 0  # 吉林市 is a city in 吉林省, not the province
        if not tail and self._road_named_after(end):
            return 0
        end += len(tail)
        self.put("province", full)
        if full in MUNICIPALITIES:
            self.put("city", full)
            for dup in (full, short, "市辖区", "市辖县"):
                if s.startswith(dup, end) and not self._road_named_after(end + len(dup)):
                    end += len(dup)
                    break
        return end

    def _suffix_at(self, i: int) -> str | None:
        s = self.s
        if i < len(s):
            for suffix, _, _ in SUFFIXES.get(s[i], ()):
                if s.startswith(suffix, i):
                    return suffix
        return None

    def _closes_name(self, i: int) -> bool:
        """Whether a suffix at ``i`` ends the name before it rather than starting a new
        one: 杨村路8号 is one road, but 宁波市镇海区 is a city then a district."""
        suffix = self._suffix_at(i)
        if suffix is None:
            return False
        k = i + len(suffix)
        s = self.s
        return k >= len(s) or s[k] in SEPARATORS or s[k] in ALNUM or s[k] in "#-"

    def _road_named_after(self, i: int) -> bool:
        """北京路, 四川北路, 北京大街: a province name followed by a road suffix."""
        if i < len(self.s) and self.s[i] in DIRECTIONS and self._suffix_at(i + 1):
            return True
        return self._suffix_at(i) is not None

    def _name(self, pos: int) -> int:
        """Consume a place name ending in a suffix, or an unrecognised run of text."""
        s, n = self.s, len(self.s)
        j = pos
        while (event := _NAME_EVENT.search(s, j)) is not None:
            j = event.start()
            c = s[j]
            if c in _NAME_STOP:
                break
            if c in CN_NUMERAL_CHARS and j > pos and _numeral_run(s, j) is not None:
                break
            for suffix, level, min_len in SUFFIXES.get(c, ()):
                if not s.startswith(suffix, j) or j - pos < min_len:
                    continue
                end = j + len(suffix)
                if self._closes_name(end) or (suffix == "州" and s[end : end + 1] in "市区县"):
                    break  # 杨村路, 杭州市, 鄞州区: the suffix is inside a longer name
                if level == "district" and s[j - 1] in "小校厂景":
                    break
                target = self._level_for(level, suffix)
                if target is None:
                    break
                name = s[pos:end]
                if target == "city" and suffix == "州" and j - pos == 1:
                    name += "市"  # 温州 → 温州市: single-character X州 cities all end in 市
                self.put(target, name)
                return end
            j += 1
        else:
            j = n
        if j == pos:
            j += 1  # a lone "#" or "-" that no house token claimed
        elif "estate" not in self.found and self._house_follows(j):
            self.put("estate", s[pos:j])  # 阳光花园3幢: a compound named without a suffix
        return j

    def _house_follows(self, i: int) -> bool:
        s, n = self.s, len(self.s)
        while i < n and s[i] in SEPARATORS:
            i += 1
        return i < n and (s[i] in ALNUM or _numeral_run(s, i) is not None)

    def _level_for(self, level: str, suffix: str) -> str | None:
        if level == "estate":
            return None if "estate" in self.found else "estate"
        if RANK[level] >= self.stage and level not in self.found:
            return level
        if suffix in ALSO_DISTRICT and self.stage <= RANK["district"]:
            return None if "district" in self.found else "district"
        return None

    def _house(self, pos: int) -> int | None:
        """Consume a house-level token (value plus suffix, dash group or bare number)."""
        s = self.s
        if s[pos] in ALNUM:
            token = _HOUSE_VALUES.match(s, pos)
            assert token is not None  # s[pos] is a letter or digit
            j = token.end()
            values = [_clean(v) for v in token.group().split("-")]
        else:
            run = _numeral_run(s, pos)
            if run is None:
                return None
            values, j = [run[0]], run[1]
        hit = _house_suffix(s, j)
        kind = hit[1] if hit else ""
        end = j + len(hit[0]) if hit else j
        if not hit and values[-1].isalpha():  # ASCII letters and digits only
            return None  # bare letters are not a house number
        self._assign_house(values, kind)
        return end

    def _assign_house(self, values: list[str], kind: str) -> None:
        if len(values) >= 3 and kind in ("", "room", "number"):
            self.put("building", values[0])
            self.put("unit", values[1])
            self.put("room", "-".join(values[2:]))
            return
        if len(values) == 2 and kind in ("", "room"):
            self.put("building", values[0])
            self.put("room", values[1])
            return
        value = "-".join(values)
        after_road = self.last in ("road", "lane") and "number" not in self.found
        if kind == "#":
            kind = "number" if after_road else "building"
        elif kind == "number" and "number" in self.found:
            kind = "building"  # 8号3号: the second 号 numbers a building in the compound
        elif kind == "":
            kind = "number" if after_road else "room"
        elif kind == "floor":
            if value.isdigit():
                self.last = "floor"
                return  # 3楼 is a floor, implied by the room number; not kept
            kind = "building"  # A楼
        if kind != "ignore":
            self.put(kind, value)


def _clean(value: str) -> str:
    """Drop leading zeros from pure numbers, upper-case building letters."""
    if value.isdigit():
        return str(int(value))
    return value.upper()


#: Splits by shape (digits as holes): an address is scanned once per shape (``_address_shapes``).
_SHAPES = Shapes(lambda s: _Scanner(s).run())


def parse_address(text: str) -> AddressParts:
    """Split an address into parts.

    Folds full-width characters and traditional script, turns Chinese numerals that
    number a house (三号楼, 二单元, 十二弄, 一〇二室) into digits, and reads the
    shorthand of housing records: ``12#楼``, ``3-2-302`` (building-unit-room) and a
    trailing bare number as the room.  Floors (3楼, 5层) are dropped because the room
    number carries them.  Text the scanner cannot place is left out rather than forced
    into a wrong part; ``InvalidAddress`` is raised only when nothing is recognised.
    """
    return AddressParts(**_found(text))


def address_parts(text: str) -> tuple[str, dict[str, str]]:
    """``parse_address(text)`` as (its ``normalized`` text, its present parts in ``LEVELS``
    order), without the ``AddressParts``: what a mapper stores. Building the frozen
    dataclass (twelve attribute stores) and reading its twelve fields back cost a mapper
    as much as splitting an address whose shape is known (``_address_shapes``)."""
    found = _found(text)
    parts = {name: found[name] for name in LEVELS if name in found}
    return _normalized(parts), parts


def _found(text: str) -> dict[str, str]:
    s = _prepare(text)
    if not s:
        raise InvalidAddress("empty", "no address given")
    found = _SHAPES.split(s)
    if not found:
        raise InvalidAddress("unparseable", f"no address component in {len(s)} characters")
    return found


def normalize_address(text: str) -> str:
    """Canonical text of an address: ``parse_address(text).normalized``."""
    return address_parts(text)[0]
