"""The 民政 benchmark's repeated syncs: every path gets its turn in each round, and the
figure is the run of median rate, measured together with its CPU and memory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bench.adapters import civil_affairs


def test_the_median_run_is_the_middle_one_or_the_lower_middle() -> None:
    runs = [{"rate": r, "cpu": i} for i, r in enumerate([300.0, 100.0, 200.0])]
    assert civil_affairs._median_run(runs) == {"rate": 200.0, "cpu": 2}
    even = [{"rate": r} for r in (400.0, 100.0, 300.0, 200.0)]
    assert civil_affairs._median_run(even) == {"rate": 200.0}


def test_paths_take_turns_round_by_round_each_in_a_fresh_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order: list[tuple[str, str]] = []
    stores = iter(range(100))

    @contextmanager
    def store(backend: str) -> Iterator[str]:
        yield f"{backend}://{next(stores)}"

    def sync(spec: dict[str, Any]) -> dict[str, Any]:
        order.append((spec["connection"], spec["store_url"]))
        return {"rate": float(len(order))}

    monkeypatch.setattr(civil_affairs, "_store", store)
    monkeypatch.setattr(civil_affairs, "_sync", sync)
    syncs = [
        ("sqlite", "sqlite", {"connection": "a"}, "size"),
        ("sqlite", "postgresql", {"connection": "b"}, "size"),
    ]
    runs = civil_affairs._sync_rounds(syncs, 3)
    assert [c for c, _ in order] == ["a", "b", "a", "b", "a", "b"]
    assert len({url for _, url in order}) == 6  # never a store a run has written
    assert [url.split(":")[0] for _, url in order] == ["sqlite", "postgresql"] * 3
    assert runs == [[{"rate": 1.0}, {"rate": 3.0}, {"rate": 5.0}],
                    [{"rate": 2.0}, {"rate": 4.0}, {"rate": 6.0}]]  # fmt: skip
