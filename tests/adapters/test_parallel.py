"""The shared page-ahead pipeline (``adapters.parallel``) with a real forked worker."""

from __future__ import annotations

import pytest

from adapters.contract import Extracted, Mapped, RecordRejected
from adapters.parallel import PageMapper, map_records, mapped


def _map(item: Extracted) -> Mapped:
    """A mapper with every outcome: a record, a rejection and an unexpected error."""
    raw = item.raw
    assert not isinstance(raw, bytes)
    if raw["kind"] == "bad":
        raise RecordRejected("schema.bad", "a bad record", source_key=str(raw["key"]))
    if raw["kind"] == "bug":
        raise ZeroDivisionError("a bug in the mapper")
    return Mapped(source_key=str(raw["key"]), payload=raw, canonical={"n": raw["key"] * 2})


RAWS = [{"key": i, "kind": ("ok", "bad", "bug")[i % 3]} for i in range(9)]


def test_worker_results_come_back_in_order_and_equal_inline_results() -> None:
    pipeline = PageMapper(1, min_page=1, label="test")
    try:
        results = pipeline.results(pipeline.map_page(_map, RAWS))
    finally:
        pipeline.close()
    assert pipeline.pages == 1
    assert results == map_records(_map, RAWS)
    assert results is not None
    assert [r[0] for r in results] == ["ok", "rejected", "error"] * 3
    for raw, result in zip(RAWS, results, strict=True):
        item = Extracted(raw=raw, cursor={})
        if raw["kind"] == "ok":
            assert mapped(item, result, _map) == _map(item)
        elif raw["kind"] == "bad":
            with pytest.raises(RecordRejected) as rejected:
                mapped(item, result, _map)
            assert (rejected.value.reason_code, rejected.value.source_key) == (
                "schema.bad",
                str(raw["key"]),
            )
        else:  # the worker's error is raised again here, as the engine must see it
            with pytest.raises(ZeroDivisionError):
                mapped(item, result, _map)


def test_small_pages_and_no_workers_stay_inline() -> None:
    assert PageMapper(1, min_page=200).map_page(_map, RAWS) is None
    assert PageMapper(0, min_page=1).map_page(_map, RAWS) is None
    assert PageMapper(1).results(None) is None
