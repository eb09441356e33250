"""户籍 persons mapped one page ahead in a worker process (the shared ``adapters.parallel``).

Mapping a person costs about as much CPU as storing it; one worker maps page N+1 while the
sync process writes page N, which is what lifts a full 户籍 sync past one core's worth of
throughput. ``PersonsStream.map`` hands over the worker's result for the record just yielded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from adapters import parallel
from adapters.hukou.mapping import map_person
from adapters.parallel import Result

__all__ = ["PageMapper", "Result", "map_page"]


def map_page(raws: Sequence[Mapping[str, Any]]) -> list[Result]:
    """Map one page inline, exactly as a worker would."""
    return parallel.map_records(map_person, raws)


class PageMapper(parallel.PageMapper):
    """The shared pipeline with the 户籍 mapper; ``submit`` returns None when a page stays
    inline."""

    def __init__(self, workers: int, *, min_page: int = 200) -> None:
        super().__init__(workers, min_page=min_page, label="hukou mapping")

    def submit(self, raws: Sequence[Mapping[str, Any]]) -> Future[list[Result]] | None:
        return self.map_page(map_person, raws)
