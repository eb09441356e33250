"""Text folding shared by every value parser.

Source systems in grid governance mix IME full-width characters, traditional script
(Hong Kong/Taiwan residents, old household registers), and Chinese numerals in
addresses.  These helpers bring all of that to one form so equal values compare
equal.  They are on the hot path of every parser, so each has an ASCII/no-op fast path.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources

from opencc import OpenCC

__all__ = [
    "CN_NUMERAL_CHARS",
    "cn_numeral_to_int",
    "compose_halfwidth",
    "fold",
    "to_halfwidth",
    "to_simplified",
]

# U+FF01..U+FF5E are the full-width forms of U+0021..U+007E; U+3000 is the ideographic space.
_HALFWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_HALFWIDTH[0x3000] = 0x20
#: Finds a character ``_HALFWIDTH`` rewrites. ``str.translate`` with a dict costs a lookup
#: per character (~2 µs for an address); the search runs in C and nearly always finds none.
_FULLWIDTH = re.compile("[\u3000\uff01-\uff5e]")


def to_halfwidth(s: str) -> str:
    """Full-width ASCII, digits and the ideographic space to their half-width forms."""
    if s.isascii() or _FULLWIDTH.search(s) is None:
        return s
    return s.translate(_HALFWIDTH)


def compose_halfwidth(table: dict[int, str]) -> tuple[dict[int, str], re.Pattern[str]]:
    """``to_halfwidth`` then ``translate(table)`` as one table, and a pattern of its keys.

    Callers that fold more characters after half-width (dashes in addresses and phone
    numbers) translate once, and not at all when the pattern finds nothing to change.
    """
    combined: dict[int, str] = {}
    for cp in set(_HALFWIDTH) | set(table):
        half = chr(_HALFWIDTH.get(cp, cp))
        combined[cp] = table.get(ord(half), half)
    combined = {cp: out for cp, out in combined.items() if out != chr(cp)}
    keys = "".join(re.escape(chr(cp)) for cp in sorted(combined))
    return combined, re.compile(f"[{keys}]")


_CONVERTER = OpenCC("t2s")
_SHORT = 64


def _load_triggers() -> tuple[frozenset[str], re.Pattern[str] | None, bool] | None:
    """What can make OpenCC change a string: a character it rewrites, or a phrase it does.

    The pure-Python OpenCC costs tens of microseconds per call even on text that is
    already simplified (nearly all of our data), so strings that contain neither skip
    it.  t2s maps a segment only through TSPhrases and TSCharacters, so a string with no
    rewritten character and no rewritten phrase made only of unrewritten characters
    (瞭解 is caught by 瞭, 沈默 needs the phrase: 沈 alone stays) comes back unchanged.
    Built from the package's own dictionaries; ``None`` (always convert) if they cannot
    be read. The flag says whether no key holds an ASCII character (see ``to_simplified``).
    """
    chars: set[str] = set()
    phrases: list[str] = []
    ascii_free = True
    try:
        folder = resources.files("opencc") / "dictionary"
        for name in ("TSCharacters.txt", "TSPhrases.txt"):
            for line in (folder / name).read_text(encoding="utf-8").splitlines():
                key, _, value = line.partition("\t")
                ascii_free = ascii_free and not any(c.isascii() for c in key)
                if key and value.split(" ")[0] != key:
                    if len(key) == 1:
                        chars.add(key)
                    else:
                        phrases.append(key)
    except (OSError, ModuleNotFoundError):  # pragma: no cover - packaging dependent
        return None
    if not chars:  # pragma: no cover - packaging dependent
        return None
    pure = [p for p in phrases if chars.isdisjoint(p)]
    pattern = re.compile("|".join(map(re.escape, pure))) if pure else None
    return frozenset(chars), pattern, ascii_free


_TRIGGERS = _load_triggers()
#: Where text may be cut into pieces converted apart (and cached apart): at runs of ASCII,
#: when no dictionary key holds an ASCII character. OpenCC replaces the longest key found
#: anywhere in a piece, then works on what lies either side of it; a key cannot span a
#: character that is in no key, so converting the pieces apart gives the same text.
_ASCII_RUNS = re.compile("([\x00-\x7f]+)") if _TRIGGERS is not None and _TRIGGERS[2] else None


def _may_change(s: str) -> bool:
    if _TRIGGERS is None:  # pragma: no cover - packaging dependent
        return True
    chars, phrases, _ = _TRIGGERS
    if not chars.isdisjoint(s):
        return True
    return phrases is not None and phrases.search(s) is not None


@lru_cache(maxsize=65536)
def _simplified_cached(s: str) -> str:
    return str(_CONVERTER.convert(s))


def _simplified_piece(s: str) -> str:
    if not _may_change(s):
        return s
    if len(s) <= _SHORT:
        return _simplified_cached(s)
    return str(_CONVERTER.convert(s))


def to_simplified(s: str) -> str:
    """Traditional Chinese to simplified (OpenCC ``t2s``); short strings are cached.

    Text with ASCII in it (``西湖區文一西路481號3幢``) is converted piece by piece between
    the ASCII runs: the pieces recur far more often than the whole (every address of a
    road shares its name), so they are found in the cache instead of converted again.
    """
    if s.isascii() or not _may_change(s):
        return s
    pieces = _ASCII_RUNS.split(s) if _ASCII_RUNS is not None else [s]
    if len(pieces) == 1:  # no ASCII to cut at
        return _simplified_piece(s)
    # Even positions are text between the ASCII runs (odd positions), kept as they are.
    return "".join(p if i % 2 else _simplified_piece(p) for i, p in enumerate(pieces))


_CN_DIGITS: dict[str, int] = {
    "零": 0,
    "〇": 0,
    "○": 0,
    "一": 1,
    "幺": 1,
    "壹": 1,
    "二": 2,
    "两": 2,
    "兩": 2,
    "贰": 2,
    "貳": 2,
    "三": 3,
    "叁": 3,
    "參": 3,
    "四": 4,
    "肆": 4,
    "五": 5,
    "伍": 5,
    "六": 6,
    "陆": 6,
    "陸": 6,
    "七": 7,
    "柒": 7,
    "八": 8,
    "捌": 8,
    "九": 9,
    "玖": 9,
}
_CN_UNITS: dict[str, int] = {
    "十": 10,
    "拾": 10,
    "百": 100,
    "佰": 100,
    "千": 1000,
    "仟": 1000,
}
_CN_WAN = frozenset("万萬")
CN_NUMERAL_CHARS = frozenset(_CN_DIGITS) | frozenset(_CN_UNITS) | _CN_WAN


def cn_numeral_to_int(s: str) -> int | None:
    """Value of a Chinese numeral, or ``None`` if ``s`` is not one.

    Two notations occur in addresses: positional digit strings read one by one
    (三〇二 → 302, room numbers) and unit notation (一百零三 → 103).  The colloquial
    elision 一百一 → 110 / 三千五 → 3500 is honoured because people write what they say.
    """
    if not s:
        return None
    if not any(c in _CN_UNITS or c in _CN_WAN for c in s):
        value = 0
        for c in s:
            d = _CN_DIGITS.get(c)
            if d is None:
                return None
            value = value * 10 + d
        return value
    wan = [i for i, c in enumerate(s) if c in _CN_WAN]
    if not wan:
        return _section_value(s)
    if len(wan) > 1:
        return None
    high = _section_value(s[: wan[0]])
    tail = s[wan[0] + 1 :]
    if len(tail) == 1 and tail in _CN_DIGITS:
        low: int | None = _CN_DIGITS[tail] * 1000  # 三万五 = 35000
    else:
        low = _section_value(tail) if tail else 0
    if high is None or low is None:
        return None
    return high * 10000 + low


def _section_value(s: str) -> int | None:
    """Value of a numeral below 10000 in unit notation (the part either side of 万)."""
    if not s:
        return None
    value = 0
    current: int | None = None
    last_unit = 10000
    zero = False
    for c in s:
        d = _CN_DIGITS.get(c)
        if d is not None:
            if current is not None:
                return None  # 一二十: two digits in a row within unit notation
            if d == 0:
                zero = True
            else:
                current = d
            continue
        unit = _CN_UNITS.get(c)
        if unit is None or unit >= last_unit:
            return None
        if current is None:
            if unit != 10:
                return None  # 百 or 千 needs an explicit multiplier
            current = 1  # 十二 = 12, 一百十 = 110
        value += current * unit
        last_unit = unit
        current = None
        zero = False
    if current is not None:
        if not zero and last_unit in (100, 1000) and value:
            value += current * (last_unit // 10)  # 一百一 = 110, 三千五 = 3500
        else:
            value += current
    return value


def fold(s: str) -> str:
    """One comparable form: NFKC, half-width, simplified, single spaces, trimmed.

    Case is kept: whether "a" and "A" are the same is a per-field decision (building
    letters yes, free text perhaps not), so it belongs to the caller.
    """
    if not s.isascii():
        s = unicodedata.normalize("NFKC", s).translate(_HALFWIDTH)
        s = to_simplified(s)
    return " ".join(s.split())
