"""The canonical form: the fast path equals plain sorted-key JSON, and it is stable."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from audit.canonical import (
    FIELDS,
    GENESIS,
    canonical_json,
    entry_bytes,
    entry_hash,
    payload_digest,
    plain_json,
    refs_json,
    rfc3339,
)

text = st.text(max_size=30)
maybe = st.none() | text
refs = st.dictionaries(
    st.text(alphabet=st.characters(max_codepoint=127), max_size=8),
    st.lists(text, max_size=3) | st.integers(-(2**53) + 1, 2**53 - 1) | st.booleans() | st.none(),
    max_size=4,
)


@given(
    seq=st.integers(1, 2**53 - 1),
    strings=st.tuples(text, text, text, maybe, maybe, text, maybe, text, maybe),
    object_refs=refs,
    record_count=st.integers(0, 2**31 - 1),
)
def test_fast_path_is_exactly_sorted_compact_utf8_json(
    seq: int, strings: tuple[str | None, ...], object_refs: dict[str, object], record_count: int
) -> None:
    direction, counterpart, subject, role, purpose, operation, digest, result, corr = strings
    fields = {
        "seq": seq,
        "at": "2026-03-01T01:30:00.000000Z",
        "direction": direction,
        "counterpart": counterpart,
        "actor_subject": subject,
        "actor_role": role,
        "purpose": purpose,
        "operation": operation,
        "object_refs": object_refs,
        "record_count": record_count,
        "payload_sha256": digest,
        "result": result,
        "correlation_id": corr,
        "prev_hash": GENESIS,
    }
    reference = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert entry_bytes([fields[k] for k in FIELDS]) == reference.encode("utf-8")


def test_a_known_entry_has_a_known_hash() -> None:
    """Pinned: if this changes, every chain ever written stops verifying."""
    fields = {
        "seq": 1,
        "at": "2026-03-01T01:30:00.000000Z",
        "direction": "read",
        "counterpart": "api",
        "actor_subject": "网格员-07",
        "actor_role": "grid_worker",
        "purpose": "走访",
        "operation": "person.get",
        "object_refs": {"persons": ["01JPERSON"]},
        "record_count": 1,
        "payload_sha256": None,
        "result": "ok",
        "correlation_id": None,
        "prev_hash": GENESIS,
    }
    expected_text = (
        '{"actor_role":"grid_worker","actor_subject":"网格员-07",'
        '"at":"2026-03-01T01:30:00.000000Z","correlation_id":null,"counterpart":"api",'
        '"direction":"read","object_refs":{"persons":["01JPERSON"]},"operation":"person.get",'
        '"payload_sha256":null,"prev_hash":"' + "0" * 64 + '","purpose":"走访",'
        '"record_count":1,"result":"ok","seq":1}'
    )
    assert canonical_json(fields) == expected_text.encode("utf-8")
    # Pinned independently (printf '%s' "$expected_text" | sha256sum).
    assert entry_hash(fields) == "f1964fe596b46f4964eb1e001292b566024f4d4d832b886e46b4c7cc9bcc0910"
    assert entry_hash(dict(reversed(list(fields.items())))) == entry_hash(fields)


def test_wrongly_typed_values_still_hash_but_differently() -> None:
    base = {k: None for k in FIELDS} | {"seq": 1, "record_count": 5, "object_refs": {}}
    as_float = dict(base, record_count=5.0)
    as_bool = dict(base, record_count=True, seq=1)
    assert entry_hash(base) != entry_hash(as_float)
    assert entry_hash(dict(base, record_count=1)) != entry_hash(as_bool)
    assert entry_hash(dict(base, object_refs={"x": float("nan")}))  # no exception


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=8))),
            "2026-03-01T01:30:00.000000Z",
        ),
        (datetime(2026, 3, 1, 1, 30, 0, 5, tzinfo=UTC), "2026-03-01T01:30:00.000005Z"),
        (datetime(999, 1, 1, tzinfo=UTC), "0999-01-01T00:00:00.000000Z"),
    ],
)
def test_rfc3339_is_utc_with_microseconds(value: datetime, expected: str) -> None:
    assert rfc3339(value) == expected


def test_plain_json_copies_and_refuses() -> None:
    assert plain_json({"a": (1, "b", [None, True])}) == {"a": [1, "b", [None, True]]}
    for bad in ({"a": 1.0}, {1: "x"}, {"a": {1, 2}}, {"a": 2**53}):
        with pytest.raises(ValueError):
            plain_json(bad)


def test_plain_json_lists_of_text_are_checked_whole() -> None:
    """The all-text list shortcut refuses and copies exactly as the element-wise path."""
    ids = ("01J0", "张三的网格")
    copied = plain_json({"persons": ids, "fields": ["name"]})
    assert copied == {"persons": list(ids), "fields": ["name"]}
    assert type(copied["persons"]) is list
    source = ["a", "b"]
    assert plain_json(source) is not source
    assert plain_json(["a", 1, None]) == ["a", 1, None]

    class Text(str):
        pass

    for bad in (["a", "b\x00"], ["a", Text("b")], ["a", 1.5]):
        with pytest.raises(ValueError):
            plain_json({"persons": bad})


@given(object_refs=refs)
def test_refs_json_is_canonical_json(object_refs: dict[str, object]) -> None:
    """What the flusher stores and hashes for ``object_refs`` is the canonical JSON."""
    try:
        plain = plain_json(object_refs)
    except ValueError:  # NUL characters: refused before anything is stored
        assume(False)
    assert refs_json(plain) == canonical_json(plain).decode("utf-8")
    assert refs_json(plain) == json.dumps(
        plain, ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )


def test_payload_digest_forms() -> None:
    assert payload_digest(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert payload_digest({"b": 1, "a": [1, 2]}) == payload_digest('{"a":[1,2],"b":1}')
    with pytest.raises(ValueError):
        payload_digest({"x": float("inf")})
