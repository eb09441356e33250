"""The engine's fast encoder writes exactly the bytes of the reference encoder, or defers to it.

Content hashes stored by every earlier sync were computed over the reference encoding
(``json`` with sorted keys, no spaces, UTF-8, ``str()`` for other types); one differing byte
would make every stored record look changed and rewrite it with a new version.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import sys
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.engine import canonical_json
from adapters.engine.encoding import StoredJson, content_hash

_REFERENCE = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
).encode


def reference(value: Any) -> bytes:
    return _REFERENCE(value).encode("utf-8")


class Colour(enum.Enum):
    RED = "红"


class Level(enum.IntEnum):
    HIGH = 3


class Status(enum.StrEnum):
    OPEN = "open"


def test_every_code_point_as_key_and_value_matches_the_reference() -> None:
    mismatched = []
    # Blocks small enough for the fast encoder (a large dict goes to the reference one).
    for start in range(0, sys.maxunicode + 1, 32):
        chars = [chr(c) for c in range(start, start + 32) if not 0xD800 <= c <= 0xDFFF]
        # Each character alone as a key and as a value, and inside a longer text.
        value = {c: c for c in chars} | {"text": [f"a{c}b" for c in chars]}
        if canonical_json(value) != reference(value):
            mismatched.append(hex(start))
    assert mismatched == []


def test_a_lone_surrogate_is_refused_as_before() -> None:
    with pytest.raises(UnicodeEncodeError):
        reference({"name": "\ud800"})
    with pytest.raises(UnicodeEncodeError):
        canonical_json({"name": "\ud800"})


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"居民": "张三", "年龄": 70, "低保": True, "备注": None}, id="plain"),
        pytest.param({"b": {"d": [1, "二", None, [False]], "c": {}}, "a": []}, id="nested"),
        pytest.param({"n": 2**64, "m": -(2**70), "z": 0}, id="big-ints"),
        pytest.param({"f": 1e16, "g": 1e-05, "h": -0.0, "i": 0.1, "j": 1.0}, id="floats"),
        pytest.param({"nan": float("nan"), "inf": float("inf")}, id="non-finite"),
        pytest.param({"at": dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC)}, id="datetime"),
        pytest.param({"on": dt.date(2024, 5, 1), "t": dt.time(8, 30)}, id="date-time"),
        pytest.param({"amount": Decimal("1.50")}, id="decimal"),
        pytest.param({"id": uuid.UUID(int=7)}, id="uuid"),
        pytest.param({"pair": (1, "二")}, id="tuple"),
        pytest.param({"tags": {"独居"}, "f": frozenset()}, id="sets"),
        pytest.param({"photo": b"\x00\xff"}, id="bytes"),
        pytest.param({"c": Colour.RED, "l": Level.HIGH, "s": Status.OPEN}, id="enums"),
        pytest.param({10: "十", 9: "九"}, id="int-keys"),
        pytest.param({"rows": [{"x": 1.5}, {"y": dt.date(2020, 1, 2)}]}, id="deep-mixed"),
        pytest.param([1, {"a": 2.5}], id="top-level-list"),
        pytest.param("文本", id="top-level-str"),
        pytest.param({f"k{i:04d}": i for i in range(1, 300)} | {"k0": 0}, id="many-keys"),
        pytest.param({"rows": [{f"k{i}": 1.5 for i in range(100)}]}, id="many-keys-floats"),
    ],
)
def test_values_outside_plain_json_encode_as_the_reference(value: Any) -> None:
    assert canonical_json(value) == reference(value)


def _text(size: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(exclude_categories=["Cs"]), max_size=size)


_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _text(8)
    | st.dates()
    | st.decimals(allow_nan=False, places=2, max_value=10**6, min_value=-(10**6))
)
_values = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(_text(4), inner, max_size=4)
        | st.dictionaries(st.integers(-3, 3), inner, max_size=2)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_text(6), _values))
def test_any_record_encodes_as_the_reference(record: dict[str, Any]) -> None:
    try:
        expected = reference(record)
    except (TypeError, ValueError, UnicodeEncodeError):
        with pytest.raises((TypeError, ValueError, UnicodeEncodeError)):
            canonical_json(record)
        return
    assert canonical_json(record) == expected


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_text(6), _values))
def test_a_record_encoded_in_a_worker_hashes_as_the_record_itself(record: dict[str, Any]) -> None:
    """A mapping worker hands a record back as the text ``canonical_json`` wrote
    (``StoredJson``): encoding that again gives the same bytes — the exchange-log digest and
    the content hash do not depend on which process decoded the record — without parsing it."""
    try:
        encoded = canonical_json(record)
    except (TypeError, ValueError, UnicodeEncodeError):
        return
    if any(word in encoded for word in (b"NaN", b"Infinity")) and _not_json(encoded):
        return  # the reference writes NaN and ±Infinity, which no store holds as JSON
    stored = StoredJson(encoded.decode("utf-8"))
    assert canonical_json(stored) == encoded
    assert content_hash(stored) == content_hash(record)
    assert stored._value is None  # never parsed to be encoded
    assert dict(stored) == json.loads(encoded)


def _not_json(encoded: bytes) -> bool:
    def refuse(constant: str) -> None:
        raise ValueError(constant)

    try:
        json.loads(encoded, parse_constant=refuse)
    except ValueError:
        return True
    return False
