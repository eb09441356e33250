"""Property-based fuzzing of the exchange log's canonical JSON: the bytes every hash covers.

An auditor recomputes entry hashes with any RFC 8785 library, so the encoding must be a
pure function of the value (key order, spacing and dict construction order never matter),
round-trip through JSON unchanged, and the fast hand-written entry template must produce
exactly the bytes of the generic encoder.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from audit.canonical import (
    FIELDS,
    MAX_SAFE_INT,
    canonical_json,
    entry_bytes,
    parse_rfc3339,
    payload_digest,
    plain_json,
    rfc3339,
)

ascii_keys = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=127), max_size=8)
texts = st.text(alphabet=st.characters(blacklist_categories=["Cs"], min_codepoint=1), max_size=20)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-MAX_SAFE_INT, MAX_SAFE_INT), texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(ascii_keys, inner, max_size=4)
    ),
    max_leaves=20,
)


def _reordered(value: Any) -> Any:
    """The same value with every object's keys inserted in reverse order."""
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


@settings(max_examples=300)
@given(st.one_of(scalars, json_values))
def test_canonical_json_round_trips_and_ignores_key_order(value: Any) -> None:
    encoded = canonical_json(value)
    assert json.loads(encoded.decode("utf-8")) == value
    assert canonical_json(_reordered(value)) == encoded
    assert canonical_json(json.loads(encoded)) == encoded
    assert b"\n" not in encoded
    assert b": " not in encoded
    assert plain_json(value) == value  # what may be stored passes the storage check


@given(
    st.dictionaries(ascii_keys, json_values, max_size=3), st.sampled_from(["float", "key", "nul"])
)
def test_values_that_would_not_survive_storage_are_refused(refs: dict[str, Any], bad: str) -> None:
    poisoned = dict(refs)
    if bad == "float":
        poisoned["x"] = 1.5
    elif bad == "key":
        poisoned["键"] = 1
    else:
        poisoned["x"] = "a\x00b"
    try:
        plain_json(poisoned)
    except ValueError:
        return
    raise AssertionError(f"plain_json accepted a {bad}")


aware_times = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@st.composite
def entries(draw: st.DrawFn) -> list[Any]:
    at = rfc3339(draw(aware_times))
    nullable = st.one_of(st.none(), texts)
    values = {
        "seq": draw(st.integers(1, MAX_SAFE_INT)),
        "at": at,
        "direction": draw(st.sampled_from(["inbound", "outbound", "read", "admin"])),
        "counterpart": draw(texts),
        "actor_subject": draw(texts),
        "actor_role": draw(nullable),
        "purpose": draw(nullable),
        "operation": draw(texts),
        "object_refs": draw(st.dictionaries(ascii_keys, json_values, max_size=3)),
        "record_count": draw(st.integers(0, MAX_SAFE_INT)),
        "payload_sha256": draw(st.one_of(st.none(), st.from_regex(r"\A[0-9a-f]{64}\Z"))),
        "result": draw(st.sampled_from(["ok", "refused", "error"])),
        "correlation_id": draw(nullable),
        "prev_hash": draw(st.from_regex(r"\A[0-9a-f]{64}\Z")),
    }
    return [values[f] for f in FIELDS]


@settings(max_examples=120)
@given(entries())
def test_the_fast_entry_template_matches_the_generic_encoder(values: list[Any]) -> None:
    generic = canonical_json(dict(zip(FIELDS, values, strict=True)))
    assert entry_bytes(values) == generic
    refs = canonical_json(values[FIELDS.index("object_refs")]).decode("utf-8")
    assert entry_bytes(values, refs) == generic


@given(
    aware_times,
    st.integers(min_value=-14 * 60, max_value=14 * 60).map(
        lambda m: timezone(timedelta(minutes=m))
    ),
)
def test_rfc3339_is_utc_with_six_digits_and_reads_back(moment: datetime, tz: timezone) -> None:
    local = moment.astimezone(tz)
    text = rfc3339(local)
    assert text.endswith("Z")
    assert len(text.split(".")[1]) == 7
    assert parse_rfc3339(text) == moment
    assert rfc3339(parse_rfc3339(text)) == text


@given(st.one_of(scalars, json_values))
def test_payload_digest_is_deterministic_over_bytes_text_and_values(value: Any) -> None:
    encoded = canonical_json(value)
    assert payload_digest(encoded) == payload_digest(encoded.decode("utf-8"))
    if not isinstance(value, str):  # text is hashed as its own UTF-8, not as a JSON string
        assert payload_digest(value) == payload_digest(encoded)
    assert payload_digest(_reordered(value)) == payload_digest(value)
