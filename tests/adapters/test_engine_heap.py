"""The heap is frozen for the length of a sync, and only for that (``adapters.engine.heap``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from adapters.engine.heap import frozen_heap
from adapters.forked import ForkedWorkers


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def _collectable(obj: object) -> bool:
    return any(o is obj for generation in range(3) for o in gc.get_objects(generation))


def test_the_heap_is_frozen_inside_and_thawed_after() -> None:
    before = _Cycle()
    assert _collectable(before)
    with frozen_heap():
        assert gc.get_freeze_count() > 0
        assert not _collectable(before)  # no collection walks what the sync started with
        made = _Cycle()
        del made
        assert gc.collect() >= 1  # garbage made during the sync is still collected
    assert gc.get_freeze_count() == 0
    assert _collectable(before)


def test_a_nested_use_leaves_the_thawing_to_the_outermost() -> None:
    @frozen_heap()
    def inner() -> int:
        return gc.get_freeze_count()

    with frozen_heap():
        assert inner() > 0
        assert gc.get_freeze_count() > 0  # the inner block did not thaw the outer one
    assert inner() > 0
    assert gc.get_freeze_count() == 0


def test_forking_a_worker_leaves_the_parent_as_it_was() -> None:
    pool = ForkedWorkers(1)
    try:
        pool.start()
        assert gc.get_freeze_count() == 0  # not frozen before: not frozen after
    finally:
        pool.close()
    with frozen_heap():
        again = ForkedWorkers(1)
        try:
            again.start()
            assert gc.get_freeze_count() > 0  # the sync's freeze is the sync's to end
        finally:
            again.close()
    assert gc.get_freeze_count() == 0
