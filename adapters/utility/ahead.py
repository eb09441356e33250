"""Parsing the next file in a worker process while this one loads the current file.

Parsing (checksum, decoding, CSV or XML, value conversion) is about half the CPU a file
costs and loading it (account lookups, the readings' upsert, the engine) the other half;
both are pure Python. A worker parses the next files into unlinked temporary spools while
this process loads the current one, so the halves overlap on two cores; when this process
would wait for the worker, it parses a later queued file itself (see ``ParseAhead``). A
spool's descriptor comes back over the pool's connection (SCM_RIGHTS), so the file has no
name at any moment and nothing is left behind, even by kill -9. The worker is forked once
and leaves when its parent does.

Nothing about a file's fate changes: the worker only parses and checks; the file is still
loaded, committed and archived (or rejected) here, in inbox order. When forking is not
possible, or the worker fails, the file is parsed inline.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import reduction
from pathlib import Path
from typing import Any

from adapters.forked import init_worker
from adapters.utility.parsing import FileRejected, Spool, parse_file

__all__ = ["ParseAhead", "Parsing"]

log = logging.getLogger(__name__)


def _parse(path: str, options: dict[str, Any]) -> tuple[Any, ...]:
    """In the worker: ("ok", descriptor, chunks, rows, problems) or ("rejected", code, why)."""
    fh = tempfile.TemporaryFile(prefix="gridhub-utility-")  # noqa: SIM115 (closed below)
    try:
        spool = parse_file(Path(path), spool=Spool(fh), **options)
        spool.flush()
        return ("ok", reduction.DupFd(fh.fileno()), spool.chunks, spool.rows, spool.problems)
    except FileRejected as exc:
        return ("rejected", exc.code, exc.reason)
    finally:
        fh.close()


class Parsing:
    """A file to parse; ``result()`` waits for its spool or raises ``FileRejected``.

    Queued until the worker is free (``submitted``), or taken by the loading process while
    it would otherwise wait for the worker (``stolen``).
    """

    def __init__(self, path: Path, options: dict[str, Any], owner: ParseAhead | None) -> None:
        self.path = path
        self.options = options
        self.owner = owner
        self.future: Future[Any] | None = None
        self.stolen = False
        self._done: Spool | FileRejected | None = None

    def result(self) -> Spool:
        owner = self.owner
        while owner is not None and not self._take():
            future = self.future
            assert future is not None  # not taken: the worker has it
            if future.done() or not owner.steal_one():
                return self._from_worker(future)
        if self._done is None:
            self._done = _parse_inline(self.path, self.options)
        done, self._done = self._done, None
        if isinstance(done, FileRejected):
            raise done
        return done

    def _take(self) -> bool:
        """Whether this file is (or now is) parsed here rather than by the worker."""
        assert self.owner is not None
        with self.owner.lock:
            if self.future is None:
                self.stolen = True
            return self.stolen

    def _from_worker(self, future: Future[Any]) -> Spool:
        try:
            started = time.perf_counter()
            message = future.result()
            if self.owner is not None:  # the loading process idles meanwhile
                self.owner.stats["waited_s"] += time.perf_counter() - started
                self.owner.stats["ahead"] += 1
            if message[0] == "ok":
                fh = os.fdopen(message[1].detach(), "r+b")
                fh.seek(0)
                return Spool(fh, chunks=message[2], rows=message[3], problems=message[4])
        except Exception as exc:  # the worker failed: parse here, where a real error shows
            log.warning("parsing %s ahead failed (%s); parsing inline", self.path.name,
                        type(exc).__name__)  # fmt: skip
            return parse_file(self.path, **self.options)
        raise FileRejected(message[1], message[2])

    def cancel(self) -> None:
        if self.owner is not None:
            with self.owner.lock:
                self.stolen = self.future is None  # never handed to the worker now
        if self.future is not None:
            self.future.cancel()
        if isinstance(self._done, Spool):
            self._done.close()
        self._done = None


def _parse_inline(path: Path, options: dict[str, Any]) -> Spool | FileRejected:
    try:
        return parse_file(path, **options)
    except FileRejected as exc:
        return exc


class ParseAhead:
    """One worker process parsing queued files in order, one at a time.

    Files are handed to the worker one by one, as it becomes free, so the ones still queued
    can be stolen: a loading process that would wait for the worker parses a later file
    itself meanwhile. An XML file parses slower than it loads and a CSV file faster; with
    stealing neither process idles while the other has work, whatever the mix.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and "fork" in multiprocessing.get_all_start_methods()
        self._pool: ProcessPoolExecutor | None = None
        self._queue: deque[Parsing] = deque()
        self._busy = False  # a file is with the worker
        self.lock = threading.Lock()
        #: Files queued, parsed by the worker and stolen by this process, and the wall
        #: seconds this process waited for the worker: what the benchmark reports.
        self.stats: dict[str, float] = {"started": 0, "ahead": 0, "stolen": 0, "waited_s": 0.0}

    def start(self, path: Path, **options: Any) -> Parsing:
        if not self.enabled:
            return Parsing(path, options, None)
        try:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=init_worker,
                    initargs=(os.getpid(),),
                )
        except (OSError, RuntimeError) as exc:  # no worker: parse inline from now on
            log.warning("cannot parse ahead (%s); parsing inline", type(exc).__name__)
            self.enabled = False
            self.close()
            return Parsing(path, options, None)
        parsing = Parsing(path, options, self)
        with self.lock:
            self._queue.append(parsing)
            self.stats["started"] += 1
        self._next()
        return parsing

    def steal_one(self) -> bool:
        """Parse the next queued file here, now; False when none is queued."""
        with self.lock:
            parsing = self._pop_queued()
            if parsing is None:
                return False
            parsing.stolen = True
        parsing._done = _parse_inline(parsing.path, parsing.options)
        self.stats["stolen"] += 1
        return True

    def _pop_queued(self) -> Parsing | None:
        while self._queue:
            parsing = self._queue.popleft()
            if not parsing.stolen:
                return parsing
        return None

    def _next(self, _finished: Future[Any] | None = None) -> None:
        """Hand the worker the next queued file when it is free (also its done-callback)."""
        with self.lock:
            if _finished is not None:
                self._busy = False
            if self._busy or self._pool is None:
                return
            parsing = self._pop_queued()
            if parsing is None:
                return
            try:
                parsing.future = self._pool.submit(_parse, str(parsing.path), parsing.options)
            except RuntimeError:  # shut down or broken: the file is parsed where it loads
                parsing.stolen = True
                return
            self._busy = True
        parsing.future.add_done_callback(self._next)

    def close(self) -> None:
        with self.lock:
            pool, self._pool = self._pool, None
            self._queue.clear()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
