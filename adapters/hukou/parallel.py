"""Mapping pages in a worker process while the engine stores the page before.

Mapping a person (name folding, pinyin, address parsing) costs about as much CPU as storing
it, and both are pure Python: in one process they add up, in two they overlap. One worker
maps page N+1 while the sync process writes page N, which is what lifts a full 户籍 sync
past one core's worth of throughput. Results come back in page order, so the engine sees
exactly what inline mapping would give it.

The worker is forked (it inherits the loaded value tables instead of re-importing them) and
leaves as soon as its parent is gone, so a sync killed with ``kill -9`` leaves no orphan.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from adapters.contract import Extracted, RecordRejected
from adapters.hukou.mapping import map_person

__all__ = ["PageMapper", "Result"]

log = logging.getLogger(__name__)

#: Per record: ("ok", source_key, canonical) or ("rejected", reason_code, reason, source_key),
#: or ("error",) when the mapper raised — the caller maps that record again inline, so the
#: engine sees the real exception.
Result = tuple[Any, ...]


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _init_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def map_page(raws: Sequence[Mapping[str, Any]]) -> list[Result]:
    """Map one page (in the worker); never raises for a single bad record."""
    out: list[Result] = []
    for raw in raws:
        try:
            m = map_person(Extracted(raw=raw, cursor={}))
        except RecordRejected as r:
            out.append(("rejected", r.reason_code, r.reason, r.source_key))
        except Exception:
            out.append(("error",))
        else:
            out.append(("ok", m.source_key, dict(m.canonical)))
    return out


class PageMapper:
    """A one-page-ahead mapping pipeline; ``submit`` returns None when mapping stays inline."""

    def __init__(self, workers: int, *, min_page: int = 200) -> None:
        self.workers = workers
        self.min_page = min_page
        self._pool: ProcessPoolExecutor | None = None
        self._broken = workers < 1 or "fork" not in multiprocessing.get_all_start_methods()

    def submit(self, raws: Sequence[Mapping[str, Any]]) -> Future[list[Result]] | None:
        # A small page (an incremental sync of a few changes) is not worth a process.
        if self._broken or len(raws) < self.min_page:
            return None
        try:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=_init_worker,
                    initargs=(os.getpid(),),
                )
            return self._pool.submit(map_page, list(raws))
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            self._give_up(exc)
            return None

    def results(self, future: Future[list[Result]] | None) -> list[Result] | None:
        """The page's results, or None to map it inline (the worker died, say by OOM)."""
        if future is None:
            return None
        try:
            return future.result()
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            self._give_up(exc)
            return None

    def _give_up(self, exc: BaseException) -> None:
        log.warning("hukou mapping worker unavailable (%s); mapping inline", type(exc).__name__)
        self._broken = True
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
