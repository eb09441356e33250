"""Forked worker processes fed through pipes, with no helper thread in the parent.

Why not ``concurrent.futures.ProcessPoolExecutor``: its parent side is two threads (one
moves calls into the workers' queue and reads results, one pickles and writes), and each
of them needs the GIL at every hop. In a sync the parent's main thread is never idle — it
reads the source and stores what the worker mapped — so each hop waited for the GIL's
switch interval: measured on a 民政 sync, a piece waited 33 ms (median) between being
submitted and being started, and the worker sat idle a third of the time with work queued
for it. Here the main thread does the pipe work itself, when it submits and whenever it
asks whether a result is in: a piece reaches the worker as soon as it is written.

How it works:

* **Pipes, enlarged.** Each worker has a task pipe and a result pipe of up to 1 MiB
  (``F_SETPIPE_SZ``; the default 64 KiB is less than one piece). Frames are a 16-byte
  header (sequence number, length) and a pickle. The parent never blocks on a write: what
  does not fit waits in a buffer and is flushed at the next call.
* **Claims, so a queued job can be taken back.** Before a worker starts a job it claims it
  in a byte array shared by every process, under one lock; ``Job.cancel()`` claims it for
  the parent instead, and succeeds only if no worker has. A worker skips a job claimed by
  the parent without unpickling it. This is what lets the parent map a piece itself while
  the worker is busy (``adapters.parallel.Ahead``).
* **Failure.** A job whose function raised comes back as an error (``Job.result()`` raises
  ``WorkerFailed``); a worker that dies (OOM, ``kill``) is noticed as end-of-file on its
  result pipe, and every job it held fails the same way — callers then do the work inline.
  Workers leave when their task pipe closes or their parent is gone (``kill -9`` of a sync
  leaves no orphan), and ignore Ctrl-C, which is the parent's to handle.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import logging
import mmap
import multiprocessing
import os
import pickle
import select
import signal
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

__all__ = ["ForkedWorkers", "Job", "WorkerFailed", "init_worker"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<QQ")  # sequence number, length of the pickle that follows
_PIPE_SIZE = 1 << 20
_SLOTS = 4096  # claim bytes; jobs in flight are always far fewer
_FREE, _WORKER, _PARENT = 0, 1, 2
_STOP = 0  # the sequence number of "leave now"; jobs are numbered from 1
_CHUNK = 1 << 20


class WorkerFailed(RuntimeError):
    """A job did not come back: its function raised, or its worker died."""


class Job(Future[Any]):
    """A job in a worker; ``done``, ``result`` and ``cancel`` do the parent's pipe work."""

    def __init__(self, owner: ForkedWorkers, seq: int) -> None:
        super().__init__()
        self._owner = owner
        self.seq = seq

    def done(self) -> bool:
        if not super().done():
            self._owner.pump(block=False)
        return super().done()

    def result(self, timeout: float | None = None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not super().done():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError
            if not self._owner.pump(block=True, timeout=left) and not super().done():
                raise WorkerFailed("the job is held by no live worker")
        return super().result()

    def cancel(self) -> bool:
        return self._owner.take_back(self) and super().cancel()


def _enlarge(fd: int) -> None:
    with contextlib.suppress(OSError):  # a smaller pipe works, only with more waiting
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)


def _read_exact(fd: int, n: int) -> bytes | None:
    parts, left = [], n
    while left:
        chunk = os.read(fd, min(left, _CHUNK))
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _ready(
    readers: list[int], writers: list[int], timeout: float | None
) -> tuple[set[int], set[int]]:
    """The descriptors ready to read and to write; ``poll``, not ``select``: a server with
    a thousand sockets open hands out pipe descriptors that ``select`` cannot watch."""
    poller = select.poll()
    for fd in readers:
        poller.register(fd, select.POLLIN)
    for fd in writers:
        poller.register(fd, select.POLLOUT)
    events = poller.poll(None if timeout is None else timeout * 1000)
    gone = select.POLLHUP | select.POLLERR | select.POLLNVAL
    readable = {fd for fd, ev in events if ev & (select.POLLIN | gone) and fd in readers}
    writable = {fd for fd, ev in events if ev & (select.POLLOUT | gone) and fd in writers}
    return readable, writable


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def init_worker(parent: int) -> None:
    """Any worker's first step (these and utility's pool): it ignores Ctrl-C, which is the
    parent's to handle, and leaves with its parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _serve(tasks: int, results: int, claims: mmap.mmap, lock: Any, parent: int) -> None:
    """A worker's loop: read a job, claim it, run it, write back what it returned."""
    init_worker(parent)
    while True:
        header = _read_exact(tasks, _HEADER.size)
        if header is None:
            return
        seq, size = _HEADER.unpack(header)
        if seq == _STOP:
            return
        body = _read_exact(tasks, size)
        if body is None:
            return
        slot = seq % _SLOTS
        with lock:
            mine = claims[slot] == _FREE
            if mine:
                claims[slot] = _WORKER
        if not mine:
            continue  # taken back by the parent: it does this one itself
        try:
            fn, args = pickle.loads(body)  # noqa: S301 - written by our own parent
            reply: tuple[str, Any] = ("ok", fn(*args))
            data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:  # anything: the parent redoes the job inline
            data = pickle.dumps(("error", type(exc).__name__))
        _write_all(results, _HEADER.pack(seq, len(data)) + data)


class _Worker:
    """The parent's end of one worker: its pipes, what waits to be written, what it holds."""

    def __init__(self, pid: int, tasks: int, results: int) -> None:
        self.pid = pid
        self.tasks = tasks
        self.results = results
        self.outbox = bytearray()
        self.inbox = bytearray()
        self.held: dict[int, Job] = {}
        self.alive = True


class ForkedWorkers:
    """``workers`` forked processes running module-level functions on pickled arguments."""

    def __init__(self, workers: int) -> None:
        self.size = workers
        self._workers: list[_Worker] = []
        self._claims = mmap.mmap(-1, _SLOTS)
        self._lock = multiprocessing.get_context("fork").Lock()
        self._seq = 0
        self._next = 0  # round robin over the live workers
        self.exit_codes: list[int | None] = []  # of the workers ``close`` reaped

    # -- life --------------------------------------------------------------------------
    def start(self) -> None:
        """Fork the workers (once; ``submit`` does it on first use)."""
        if self._workers:
            return
        parent = os.getpid()
        ours: list[int] = []
        for _ in range(self.size):
            task_r, task_w = os.pipe()
            result_r, result_w = os.pipe()
            for fd in (task_r, task_w, result_r, result_w):
                _enlarge(fd)
            # Frozen, the parent's objects are never walked by the worker's collector, whose
            # writes to them would copy their pages: measured, that made the worker ~40 %
            # slower. The parent's own state is left as it was (a sync freezes its heap too).
            frozen = gc.get_freeze_count() > 0
            gc.freeze()
            try:
                pid = os.fork()
            finally:
                if not frozen and os.getpid() == parent:  # the parent, forked or not
                    gc.unfreeze()
            if pid == 0:  # the worker: keep its own two ends, nothing of its siblings'
                code = 0
                try:
                    for fd in (task_w, result_r, *ours):
                        os.close(fd)
                    _serve(task_r, result_w, self._claims, self._lock, parent)
                except BaseException:  # a worker never returns into the parent's code
                    code = 1
                finally:
                    os._exit(code)
            os.close(task_r)
            os.close(result_w)
            os.set_blocking(task_w, False)
            os.set_blocking(result_r, False)
            ours += [task_w, result_r]
            self._workers.append(_Worker(pid, task_w, result_r))

    def close(self) -> None:
        """Take back every job not started, tell the workers to leave, and reap them.

        An explicit stop, not only the end of the task pipe: a process forked from this one
        later (another adapter's workers) holds a copy of the pipe's write end, so the
        worker would never see it end. Jobs still held fail with ``WorkerFailed``.
        """
        deadline = time.monotonic() + 5.0
        for worker in self._workers:
            for job in list(worker.held.values()):
                job.cancel()
            if worker.alive:
                worker.outbox += _HEADER.pack(_STOP, 0)
        while any(w.alive and w.outbox for w in self._workers) and time.monotonic() < deadline:
            writers = [w.tasks for w in self._workers if w.alive and w.outbox]
            _, writable = _ready([], writers, 0.05)
            for worker in self._workers:
                if worker.tasks in writable:
                    self._flush(worker)
        for worker in self._workers:
            for fd in (worker.tasks, worker.results):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._fail(worker, "the workers were closed")
        self.exit_codes = [self._reap(worker.pid, deadline) for worker in self._workers]
        self._workers = []

    @staticmethod
    def _reap(pid: int, deadline: float) -> int | None:
        """Wait for a worker until ``deadline``, then kill it: its exit code (negative: the
        signal), or None if another part of this process reaped it first."""
        try:
            while time.monotonic() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    return os.waitstatus_to_exitcode(status)
                time.sleep(0.005)
            log.warning("a worker (pid %d) did not leave when told to; killing it", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        except ChildProcessError:
            return None

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self._workers]

    @property
    def alive(self) -> bool:
        return any(w.alive for w in self._workers)

    # -- jobs --------------------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], *args: Any) -> Job:
        """``fn(*args)`` in a worker; raises ``WorkerFailed`` if no worker is alive."""
        self.start()
        live = [w for w in self._workers if w.alive]
        if not live:
            raise WorkerFailed("no mapping worker is alive")
        worker = live[self._next % len(live)]
        self._next += 1
        self._seq += 1
        seq = self._seq
        if len(worker.held) >= _SLOTS // (2 * self.size):
            raise WorkerFailed("too many jobs in flight")
        body = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        self._claims[seq % _SLOTS] = _FREE
        job = Job(self, seq)  # stays PENDING: ``cancel`` works until a worker claims it
        worker.held[seq] = job
        worker.outbox += _HEADER.pack(seq, len(body))
        worker.outbox += body
        self.pump(block=False)
        return job

    def take_back(self, job: Job) -> bool:
        """Claim ``job`` for the parent if no worker has started it."""
        slot = job.seq % _SLOTS
        # Bounded: a worker killed inside its claim (a few instructions) would hold the lock
        # for ever; the job then stays the worker's, whose death ``pump`` notices.
        if not self._lock.acquire(timeout=5.0):
            return False
        try:
            if self._claims[slot] != _FREE:
                return False
            self._claims[slot] = _PARENT
        finally:
            self._lock.release()
        for worker in self._workers:
            worker.held.pop(job.seq, None)
        return True

    # -- the pipe work -----------------------------------------------------------------
    def pump(self, *, block: bool, timeout: float | None = None) -> bool:
        """Write what waits to be written and read what has come back; with ``block``,
        wait until at least one result (or a worker's end) has come in. False: there is
        nothing to wait for (no job is held by a live worker)."""
        while True:
            readers = [w.results for w in self._workers if w.alive and w.held]
            writers = [w.tasks for w in self._workers if w.alive and w.outbox]
            if not readers and not writers:
                return False
            readable, writable = _ready(readers, writers, timeout if block else 0)
            for worker in self._workers:
                if worker.tasks in writable:
                    self._flush(worker)
            got = False
            for worker in self._workers:
                if worker.results in readable:
                    got = self._receive(worker) or got
            if not block or got or (timeout is not None and not readable and not writable):
                return True

    def _flush(self, worker: _Worker) -> None:
        try:
            sent = os.write(worker.tasks, worker.outbox)
        except BlockingIOError:
            return
        except OSError:
            self._lost(worker)
            return
        del worker.outbox[:sent]

    def _receive(self, worker: _Worker) -> bool:
        """Read what the worker has written; True when a job finished or the worker ended."""
        finished = ended = False
        while True:
            try:
                chunk = os.read(worker.results, _CHUNK)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                ended = True  # results written before it died are still taken below
                break
            worker.inbox += chunk
        inbox = worker.inbox
        while len(inbox) >= _HEADER.size:
            seq, size = _HEADER.unpack_from(inbox)
            end = _HEADER.size + size
            if len(inbox) < end:
                break
            with memoryview(inbox) as view, view[_HEADER.size : end] as body:
                kind, value = pickle.loads(body)  # noqa: S301 - from our own worker
            del inbox[:end]
            job = worker.held.pop(seq, None)
            if job is None:
                continue
            finished = True
            if kind == "ok":
                job.set_result(value)
            else:
                job.set_exception(WorkerFailed(f"the job raised {value}"))
        if ended:
            self._lost(worker)
        return finished or ended

    def _lost(self, worker: _Worker) -> None:
        worker.outbox.clear()
        self._fail(worker, "the worker died")

    @staticmethod
    def _fail(worker: _Worker, why: str) -> None:
        worker.alive = False
        for job in worker.held.values():
            if not job.done():
                job.set_exception(WorkerFailed(why))
        worker.held.clear()
