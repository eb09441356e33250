"""Property tests on the verifier alone (no database): any single alteration of a chain is
found, at the seq where it was made."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from audit import GENESIS, Anchor, KeySet, Reason, Verifier
from audit.canonical import entry_hash
from audit.verify import run

EDITABLE = ("counterpart", "actor_subject", "actor_role", "purpose", "operation", "result")


def chain(n: int) -> list[dict[str, Any]]:
    entries, prev = [], GENESIS
    for seq in range(1, n + 1):
        entry: dict[str, Any] = {
            "seq": seq,
            "at": f"2026-03-01T01:{seq % 60:02d}:00.000000Z",
            "direction": "read",
            "counterpart": "api",
            "actor_subject": f"worker-{seq % 5}",
            "actor_role": None if seq % 2 else "grid_worker",
            "purpose": "service",
            "operation": "person.get",
            "object_refs": {"persons": [f"P{seq % 7}"]},
            "record_count": seq % 3,
            "payload_sha256": None,
            "result": "ok",
            "correlation_id": f"c{seq}",
            "prev_hash": prev,
        }
        entry["entry_hash"] = prev = entry_hash(entry)
        entries.append(entry)
    return entries


def verify(entries: list[dict[str, Any]]) -> Any:
    return run(Verifier(KeySet({}), anchor=Anchor(0, GENESIS)), [dict(e) for e in entries])


sizes = st.integers(min_value=3, max_value=60)


@given(data=st.data(), n=sizes)
def test_an_edited_field_is_found_at_its_seq(data: st.DataObject, n: int) -> None:
    entries = chain(n)
    k = data.draw(st.integers(1, n))
    name = data.draw(st.sampled_from(EDITABLE))
    entries[k - 1][name] = data.draw(st.text(min_size=1, max_size=5).filter(lambda v: v != "ok"))
    if entries[k - 1][name] == chain(n)[k - 1][name]:
        return
    first = verify(entries).first
    assert first is not None
    assert (first.seq, first.reason) == (k, Reason.HASH_MISMATCH)


@given(data=st.data(), n=sizes)
def test_a_removed_entry_is_a_gap_at_its_seq(data: st.DataObject, n: int) -> None:
    entries = chain(n)
    k = data.draw(st.integers(1, n - 1))  # not the last: that just looks like a shorter log
    del entries[k - 1]
    first = verify(entries).first
    assert first is not None
    assert (first.seq, first.reason) == (k, Reason.GAP)


@given(data=st.data(), n=sizes)
def test_two_swapped_entries_are_reported_as_reordered(data: st.DataObject, n: int) -> None:
    entries = chain(n)
    k = data.draw(st.integers(1, n - 1))
    entries[k - 1], entries[k] = entries[k], entries[k - 1]
    first = verify(entries).first
    assert first is not None
    assert (first.seq, first.reason) == (k, Reason.REORDERED)


@given(data=st.data(), n=sizes)
@settings(max_examples=50)
def test_an_entry_rewritten_with_a_fresh_hash_is_named(data: st.DataObject, n: int) -> None:
    entries = chain(n)
    k = data.draw(st.integers(1, n - 1))  # the last one has no successor to give it away
    entries[k - 1]["purpose"] = "rewritten"
    entries[k - 1]["entry_hash"] = entry_hash({x: v for x, v in entries[k - 1].items()})
    first = verify(entries).first
    assert first is not None
    assert (first.seq, first.reason) == (k, Reason.PREV_HASH_MISMATCH)


def test_an_untouched_chain_verifies() -> None:
    report = verify(chain(50))
    assert report.ok
    assert (report.first_seq, report.last_seq, report.entries) == (1, 50, 50)
