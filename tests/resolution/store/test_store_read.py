"""The full run's shortcuts give exactly what the plain per-row code gives: the engine
columns built by position, block keys hashed from pre-joined text, empty JSON values
serialised once."""

from __future__ import annotations

from itertools import product
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from canonical_model import Person
from resolution.bulk import _processed
from resolution.state import stable_hash, text_hash
from resolution.store_read import _AT, _KEYS, _frame, canonical_columns

_COLUMNS = ["id", "source", "version", "person_id", "features", *_KEYS]


def test_frame_picks_what_canonical_columns_picks() -> None:
    values: list[Any] = [None, "", "0", "x", "M", "F", 0, 7]
    rows = []
    for n, (a, b) in enumerate(product(values, repeat=2)):
        row: list[Any] = [n, "hukou", 1, None, None] + [None] * len(_KEYS)
        row[_AT["resident_id"]], row[_AT["resident_id_raw"]] = a, b
        row[_AT["address"]], row[_AT["registered_address"]] = b, a
        row[_AT["gender"]], row[_AT["name"]] = a, b
        rows.append(tuple(row))
    frame = _frame(rows)
    expected = [
        {
            "source": r[1],
            "source_key": str(r[0]),
            **canonical_columns(dict(zip(_COLUMNS, r, strict=True))),
        }
        for r in rows
    ]
    assert frame.to_dict("records") == expected
    assert list(frame.columns) == list(expected[0])


def test_text_hash_is_stable_hash_of_the_joined_parts() -> None:
    for parts in (("block", 3, "L", "张三", "1980"), ("block", 0, "S"), ("term", "x", None)):
        text = "\x1f".join("\x00" if p is None else str(p) for p in parts)
        assert text_hash(text) == stable_hash(*parts)


def test_empty_json_values_are_serialised_as_the_column_would() -> None:
    engine = create_engine("sqlite://")
    table = Person.__table__
    proc = table.c.tags.type._cached_bind_processor(engine.dialect)
    assert proc is not None
    values: list[Any] = [[], {}, ["a"], {"k": []}, None, 0, "", False, [[]], ()]
    with Session(engine) as s:
        out = _processed(s, table, ["tags"], [(v,) for v in values])  # type: ignore[arg-type]
    assert [r[0] for r in out] == [None if v is None else proc(v) for v in values]
