"""An address split by its shape: the text with each run of ASCII digits as a hole.

Why: the scanner (``address._Scanner``) is pure Python, and most of what it spends on a
district's addresses is the house part (``481号1幢2单元202室``), read token by token. Whatever
digits fill the holes, it decides the same way — a digit is a letter-or-digit to every question
it asks, the argument ``address._HEADS`` rests on — and a run of digits reaches a part only as
itself with its leading zeros dropped (``_clean``), alone or joined to others by ``-``. So an
address splits as the first address of its shape did, with its own digits in the holes. The
civil-affairs addresses of the 100,000-person benchmark district: 13,531, in 394 shapes once
folded (671 as written); a kept split fills one in 2.6 µs where the scanner took 8.3.

How a shape's split is learned, once: the address is scanned as it is, and twice with
stand-in numbers in the holes, a different set each time. A part made only of stand-ins joined
by ``-`` takes the address's own runs; a part with no stand-in in it is kept as written; the
split is kept only if it gives back all three scans exactly. A stand-in the text produced by
itself (a Chinese numeral that happens to equal it) fails that check, and the shape is then
scanned every time, as is any address with an ASCII letter (a value such as ``012A`` keeps its
zeros, so a run's part depends on what stands beside it), with the hole marker in it, or with
a run too long to be a house number (``int()`` refuses the longest).
``tests/canonical_model/values/test_values_address_shapes.py`` holds the split to the
reference scanner's over addresses built from the pieces that steer it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Shapes"]

_RUNS = re.compile(r"([0-9]+)")  # split() keeps the runs: text, run, text, …, text
_LETTER = re.compile("[A-Za-z]")
_HOLE = "\x00"
_LONGEST = 18  # digits of a run filled in here; a longer one is scanned (as int() bounds it)


@dataclass(frozen=True, slots=True)
class Split:
    """How a shape splits: parts kept as written, parts that are one run (the usual house
    value), parts that are runs joined by ``-`` (a room such as 302-1)."""

    written: dict[str, str]
    runs: tuple[tuple[str, int], ...]
    joined: tuple[tuple[str, tuple[int, ...]], ...]

    def fill(self, values: list[str]) -> dict[str, str]:
        found = dict(self.written)
        for level, i in self.runs:
            found[level] = values[i]
        for level, several in self.joined:
            found[level] = "-".join([values[i] for i in several])
        return found


def _stand_ins(first: int, step: int, count: int) -> list[str]:
    return [str(first + step * i) for i in range(count)]


def _learn(found: dict[str, str], stand_ins: list[str]) -> Split | None:
    """The split ``found`` shows with ``stand_ins`` in the holes; None: not a function of them."""
    where = {s: i for i, s in enumerate(stand_ins)}
    written: dict[str, str] = {}
    runs: list[tuple[str, int]] = []
    joined: list[tuple[str, tuple[int, ...]]] = []
    for level, value in found.items():
        at = [where.get(p) for p in value.split("-")]
        if len(at) == 1 and at[0] is not None:
            runs.append((level, at[0]))
        elif all(i is not None for i in at):
            joined.append((level, tuple(i for i in at if i is not None)))
        elif any(s in value for s in stand_ins):
            return None  # a stand-in inside other text: not a part this cache can fill
        else:
            written[level] = value
    return Split(written, tuple(runs), tuple(joined))


def _values(runs: list[str]) -> list[str]:
    """Each run as the scanner keeps it: without leading zeros (``address._clean``)."""
    return [r if r[0] != "0" else str(int(r)) for r in runs]


class Shapes:
    """The splits of the shapes seen so far (at most ``most``; forgotten all at once when
    full, as ``address._HEADS``)."""

    def __init__(self, scan: Callable[[str], dict[str, str]], most: int = 8192) -> None:
        self._scan = scan
        self.most = most
        self._known: dict[str, Split | None] = {}

    def __len__(self) -> int:
        return len(self._known)

    def clear(self) -> None:
        self._known.clear()

    def split(self, s: str) -> dict[str, str]:
        """The parts of the prepared address ``s``, as ``scan(s)`` gives them."""
        pieces = _RUNS.split(s)
        if len(pieces) == 1 or _HOLE in s or _LETTER.search(s) is not None:
            return self._scan(s)
        texts, runs = pieces[0::2], pieces[1::2]
        if max(map(len, runs)) > _LONGEST:
            return self._scan(s)
        shape = _HOLE.join(texts)
        try:
            split = self._known[shape]
        except KeyError:
            return self._first(s, shape, texts, runs)
        if split is None:
            return self._scan(s)
        return split.fill(_values(runs))

    def _first(self, s: str, shape: str, texts: list[str], runs: list[str]) -> dict[str, str]:
        found = self._scan(s)
        ones = _stand_ins(1_000_003, 7, len(runs))
        twos = _stand_ins(2_000_029, 11, len(runs))
        split = _learn(self._scan(_joined(texts, ones)), ones)
        if split is not None and (
            split.fill(twos) != self._scan(_joined(texts, twos))
            or split.fill(_values(runs)) != found
        ):
            split = None
        if len(self._known) >= self.most:
            self._known.clear()
        self._known[shape] = split
        return found


def _joined(texts: list[str], runs: list[str]) -> str:
    out = [texts[0]]
    for run, text in zip(runs, texts[1:], strict=True):
        out.append(run)
        out.append(text)
    return "".join(out)
