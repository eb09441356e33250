"""Mapping pages in a worker process while the engine stores the page before.

Mapping a person (name folding, pinyin, address parsing) costs about as much CPU as storing
it, and both are pure Python: in one process they add up, in two they overlap. A worker maps
page N+1 while the sync process writes page N. Results come back in page order, one per
record, so the engine sees exactly what inline mapping would give it; a record whose mapper
raised something other than ``RecordRejected`` is mapped again inline, so the engine sees the
real exception.

Workers are forked (they inherit the loaded value tables instead of importing them again)
and leave as soon as their parent is gone, so a sync killed with ``kill -9`` leaves no
orphan. Where forking is not possible, or a worker dies (say by OOM), pages are mapped
inline. Every adapter that maps ahead (户籍, 民政, health) uses this one pipeline.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from adapters.contract import Extracted, Mapped, RecordRejected

__all__ = ["PageMapper", "Result", "init_worker", "map_records", "mapped"]

log = logging.getLogger(__name__)

#: Per record: ("ok", source_key, canonical) or ("rejected", reason_code, reason, source_key),
#: or ("error",) when the mapper raised — ``mapped`` then maps that record again inline.
#: (A pipeline with its own worker function, as health's, may use other "ok" shapes.)
Result = tuple[Any, ...]

MapFn = Callable[[Extracted], Mapped]


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def init_worker(parent: int) -> None:
    """A worker's initializer (every adapter's): it ignores Ctrl-C and leaves with its parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def map_records(map_fn: MapFn, raws: Sequence[Mapping[str, Any] | bytes]) -> list[Result]:
    """Map one page (in the worker); never raises for a single bad record.

    ``map_fn`` must be a module-level function (it travels by name). Records are mapped
    without their cursor and source key, which no mapper needs beyond what ``raw`` holds.
    """
    out: list[Result] = []
    for raw in raws:
        try:
            m = map_fn(Extracted(raw=raw, cursor={}))
        except RecordRejected as r:
            out.append(("rejected", r.reason_code, r.reason, r.source_key))
        except Exception:
            out.append(("error",))
        else:
            out.append(("ok", m.source_key, dict(m.canonical)))
    return out


def mapped(item: Extracted, result: Result | None, map_fn: MapFn) -> Mapped:
    """The ``Mapped`` of ``item`` from its ``map_records`` result, or mapped inline when
    there is none (no worker, or the worker's mapper raised: the real error is raised here)."""
    raw = item.raw
    if result is None or result[0] == "error" or isinstance(raw, bytes):
        return map_fn(item)
    if result[0] == "rejected":
        raise RecordRejected(result[1], result[2], source_key=result[3])
    return Mapped(source_key=result[1], payload=raw, canonical=result[2])


class PageMapper:
    """A one-page-ahead pipeline; ``run`` returns None when a page stays inline."""

    def __init__(self, workers: int, *, min_page: int = 200, label: str = "mapping") -> None:
        self.workers = workers
        self.min_page = min_page
        self.label = label
        self.pages = 0  # pages handed to a worker
        self._pool: ProcessPoolExecutor | None = None
        self._broken = workers < 1 or "fork" not in multiprocessing.get_all_start_methods()

    def run(
        self, size: int, fn: Callable[..., list[Result]], *args: Any
    ) -> Future[list[Result]] | None:
        """``fn(*args)`` in a worker for a page of ``size`` records; None: handle it inline.

        A small page (an incremental sync of a few changes) is not worth a process.
        """
        if self._broken or size < self.min_page:
            return None
        try:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=init_worker,
                    initargs=(os.getpid(),),
                )
            future = self._pool.submit(fn, *args)
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            self._give_up(exc)
            return None
        self.pages += 1
        return future

    def map_page(
        self, map_fn: MapFn, raws: Sequence[Mapping[str, Any] | bytes]
    ) -> Future[list[Result]] | None:
        """``map_records(map_fn, raws)`` in a worker, or None to map the page inline."""
        return self.run(len(raws), map_records, map_fn, list(raws))

    def results(self, future: Future[list[Result]] | None) -> list[Result] | None:
        """The page's results, or None to handle it inline (the worker died, say by OOM)."""
        if future is None:
            return None
        try:
            return future.result()
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            self._give_up(exc)
            return None

    def _give_up(self, exc: BaseException) -> None:
        log.warning("%s worker unavailable (%s); mapping inline", self.label, type(exc).__name__)
        self._broken = True
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
