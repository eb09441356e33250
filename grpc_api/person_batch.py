"""Concurrent ``GetPerson`` reads of one process share one statement (group reading).

Why: a person read is one statement, and most of what PostgreSQL spends on it is per
statement, not per person — the round trip, the executor starting a plan of six subplans,
the result. Measured with pgbench on the 1M-person benchmark database (2 cores): one person a
statement 0.41–0.47 ms, four in one statement 0.16–0.18 ms each, eight 0.12–0.13 ms each. A
server under load has several reads waiting at any moment; here they go to the database
together.

How (as a database's group commit): a read that finds no statement of its process running
leads — it runs a statement for itself and whatever reads are waiting (at most
``max_batch``); a read arriving while ``lanes`` statements run waits. When a statement
ends, its leader hands its lane to the oldest waiting read, which then leads the next one with
everything that arrived meanwhile. So an idle server reads one person a statement with no
added wait, and a busy one reads more per statement the busier it is. While fewer than
``max_batch`` reads wait (a process has 8 handler threads by default), a read waits for at
most the statement running when it arrived, then its own.

Failures: the statement's error (or a connection lost twice, see ``PersonReader``) is every
read's of that statement — each caller answers it as it would its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from identity import Principal

Result = TypeVar("Result")
#: Runs the reads, in order, in one statement: one result (or None) per ``(caller, uid)``.
Runner = Callable[[Sequence[tuple[Principal, str]]], Sequence[Result | None]]


class _Read(Generic[Result]):
    """One waiting read; ``ready`` is held until its result (or its lane) is handed over."""

    __slots__ = ("ask", "error", "lead", "ready", "result")

    def __init__(self, principal: Principal, uid: str) -> None:
        self.ask = (principal, uid)
        self.ready = threading.Lock()
        self.ready.acquire()
        self.lead = False
        self.result: Result | None = None
        self.error: BaseException | None = None


class GroupReads(Generic[Result]):
    """Reads of one process, run ``max_batch`` at most to a statement, ``lanes`` statements at
    most at once."""

    def __init__(self, run: Runner[Result], *, max_batch: int = 16, lanes: int = 1) -> None:
        if max_batch < 1 or lanes < 1:
            raise ValueError("max_batch and lanes must be at least 1")
        self._run = run
        self.max_batch = max_batch
        self.lanes = lanes
        self._lock = threading.Lock()
        self._waiting: list[_Read[Result]] = []
        self._running = 0
        #: Statements run and reads they served so far (tests, diagnosis).
        self.statements = 0
        self.reads = 0

    def read(self, principal: Principal, uid: str) -> Result | None:
        mine: _Read[Result] = _Read(principal, uid)
        with self._lock:
            if self._running < self.lanes:
                self._running += 1
                mine.lead = True
            else:
                self._waiting.append(mine)
        if not mine.lead:
            mine.ready.acquire()  # a result, or a lane handed over
            if not mine.lead:
                if mine.error is not None:
                    raise mine.error
                return mine.result
        return self._lead(mine)

    def _lead(self, mine: _Read[Result]) -> Result | None:
        """Run a statement for ``mine`` and the oldest waiting reads, then hand the lane on."""
        with self._lock:
            others = self._waiting[: self.max_batch - 1]
            del self._waiting[: len(others)]
        batch = [mine, *others]
        try:
            results = self._run([r.ask for r in batch])
            if len(results) != len(batch):  # pragma: no cover - a runner's contract
                raise RuntimeError(f"{len(batch)} reads but {len(results)} results")
        except BaseException as exc:
            for other in others:
                other.error = exc
                other.ready.release()
            self._hand_on(len(batch))
            raise
        for other, result in zip(others, results[1:], strict=True):
            other.result = result
            other.ready.release()
        self._hand_on(len(batch))
        return results[0]

    def _hand_on(self, reads: int) -> None:
        with self._lock:
            self.statements += 1
            self.reads += reads
            if self._waiting:
                successor = self._waiting.pop(0)
                successor.lead = True
            else:
                self._running -= 1
                return
        successor.ready.release()


__all__ = ["GroupReads"]
