"""Parsing the next file in a worker process while this one loads the current file.

Parsing (checksum, decoding, CSV or XML, value conversion) is about half the CPU a file
costs and loading it (account lookups, the readings' upsert, the engine) the other half;
both are pure Python. A worker parses file N+1 into an unlinked temporary spool while this
process loads file N, so the halves overlap on two cores. The spool's descriptor comes back
over the pool's connection (SCM_RIGHTS), so the file has no name at any moment and nothing
is left behind, even by kill -9. The worker is forked once and leaves when its parent does.

Nothing about a file's fate changes: the worker only parses and checks; the file is still
loaded, committed and archived (or rejected) here, in inbox order. When forking is not
possible, or the worker fails, the file is parsed inline.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import tempfile
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import reduction
from pathlib import Path
from typing import Any

from adapters.utility.parsing import FileRejected, Spool, parse_file

__all__ = ["ParseAhead", "Parsing"]

log = logging.getLogger(__name__)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _init_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


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
    """A file being parsed; ``result()`` waits for its spool or raises ``FileRejected``."""

    def __init__(self, path: Path, options: dict[str, Any], future: Future[Any] | None) -> None:
        self.path = path
        self.options = options
        self.future = future

    def result(self) -> Spool:
        if self.future is None:
            return parse_file(self.path, **self.options)
        try:
            message = self.future.result()
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
        if self.future is not None:
            self.future.cancel()


class ParseAhead:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and "fork" in multiprocessing.get_all_start_methods()
        self._pool: ProcessPoolExecutor | None = None

    def start(self, path: Path, **options: Any) -> Parsing:
        if not self.enabled:
            return Parsing(path, options, None)
        try:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=_init_worker,
                    initargs=(os.getpid(),),
                )
            return Parsing(path, options, self._pool.submit(_parse, str(path), options))
        except (OSError, RuntimeError) as exc:  # no worker: parse inline from now on
            log.warning("cannot parse ahead (%s); parsing inline", type(exc).__name__)
            self.enabled = False
            self.close()
            return Parsing(path, options, None)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
