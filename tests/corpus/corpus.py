"""The bad-input corpus: its manifest, its files, and a few builders the tests share.

``manifest.yaml`` lists every file under ``data/`` with what it is, which production parser
meets it, and the reason category that parser must give when it refuses it. Oversized
inputs (a 10 MB name) are not stored: their entry names a small seed file and the size it
is grown to at test time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from canonical_model.values import check_digit

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
MANIFEST = HERE / "manifest.yaml"


@dataclass(frozen=True, slots=True)
class Entry:
    """One corpus file: ``file`` is relative to ``data/``."""

    file: str
    kind: str
    what: str
    parser: str
    expect: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return DATA / self.file

    def read(self) -> bytes:
        return self.path.read_bytes()

    @property
    def id(self) -> str:
        return self.file


@cache
def entries() -> tuple[Entry, ...]:
    doc = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    out = []
    for item in doc["files"]:
        extra = {k: v for k, v in item.items() if k not in Entry.__dataclass_fields__}
        base = {k: v for k, v in item.items() if k in Entry.__dataclass_fields__}
        out.append(Entry(**base, params={**base.get("params", {}), **extra}))
    return tuple(out)


def of_kind(kind: str) -> list[Entry]:
    found = [e for e in entries() if e.kind == kind]
    if not found:
        raise LookupError(f"the manifest has no entries of kind {kind!r}")
    return found


def valid_id(region: str = "330106", born: str = "19800101", seq: int = 1) -> str:
    first17 = f"{region}{born}{seq:03d}"
    return first17 + check_digit(first17)


def grow(seed: bytes, size: int) -> bytes:
    """``seed`` repeated to exactly ``size`` bytes, cut on a character boundary (UTF-8)."""
    text = seed.decode("utf-8")
    unit = len(seed)
    body = (text * (size // unit + 1)).encode("utf-8")[:size]
    return body.decode("utf-8", "ignore").encode("utf-8")
