"""Group reading (:mod:`grpc_api.person_batch`): who waits, who leads, what each read gets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from grpc_api.person_batch import GroupReads
from identity import Principal, Role

WHO = Principal(subject="W0001", role=Role.GRID_WORKER, grids=frozenset({"330106001001001"}))


class Database:
    """A runner whose statements can be held open, so reads pile up behind them."""

    def __init__(self, *, fail_on: str | None = None) -> None:
        self.statements: list[list[str]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def run(self, asked: Sequence[tuple[Principal, str]]) -> list[str | None]:
        uids = [uid for _, uid in asked]
        with self._lock:
            self.statements.append(uids)
        assert self.hold.wait(10), "held too long"
        if self.fail_on in uids:
            raise ConnectionError(f"lost during {self.fail_on}")
        return [None if uid.startswith("missing") else f"row of {uid}" for uid in uids]


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def _behind_a_held_statement(
    group: GroupReads[str], db: Database, pool: ThreadPoolExecutor, uids: list[str]
) -> tuple[Future[str | None], list[Future[str | None]]]:
    """A first read holding its statement open, then ``uids`` waiting behind it (in order)."""
    db.hold.clear()
    first = pool.submit(group.read, WHO, "first")
    _until(lambda: len(db.statements) == 1)
    waiting = []
    for n, uid in enumerate(uids, 1):
        waiting.append(pool.submit(group.read, WHO, uid))
        _until(lambda n=n: len(group._waiting) == n)  # type: ignore[misc]
    return first, waiting


def test_a_lone_read_is_a_statement_of_its_own() -> None:
    db = Database()
    group = GroupReads(db.run)
    assert group.read(WHO, "p1") == "row of p1"
    assert group.read(WHO, "missing") is None
    assert db.statements == [["p1"], ["missing"]]
    assert (group.statements, group.reads) == (2, 2)


def test_reads_that_arrive_during_a_statement_share_the_next_one() -> None:
    db = Database()
    group = GroupReads(db.run, max_batch=16)
    with ThreadPoolExecutor(8) as pool:
        first, waiting = _behind_a_held_statement(group, db, pool, ["a", "missing-b", "c"])
        db.hold.set()
        assert first.result(10) == "row of first"
        assert [f.result(10) for f in waiting] == ["row of a", None, "row of c"]
    # the oldest waiting read led the next statement, with the others in arrival order
    assert db.statements == [["first"], ["a", "missing-b", "c"]]
    assert (group.statements, group.reads, group._running) == (2, 4, 0)


def test_a_statement_takes_at_most_max_batch_reads() -> None:
    db = Database()
    group = GroupReads(db.run, max_batch=2)
    with ThreadPoolExecutor(8) as pool:
        first, waiting = _behind_a_held_statement(group, db, pool, ["a", "b", "c", "d", "e"])
        db.hold.set()
        assert [f.result(10) for f in (first, *waiting)] == [
            f"row of {u}" for u in ("first", "a", "b", "c", "d", "e")
        ]
    assert db.statements == [["first"], ["a", "b"], ["c", "d"], ["e"]]


def test_a_failed_statement_fails_each_of_its_reads_and_the_next_one_runs() -> None:
    db = Database(fail_on="b")
    group = GroupReads(db.run)
    with ThreadPoolExecutor(8) as pool:
        first, waiting = _behind_a_held_statement(group, db, pool, ["a", "b"])
        db.hold.set()
        assert first.result(10) == "row of first"
        for future in waiting:  # a and b were read together: both get the error
            with pytest.raises(ConnectionError, match="lost during b"):
                future.result(10)
    assert group.read(WHO, "c") == "row of c"  # the lane was handed on, not lost
    assert db.statements == [["first"], ["a", "b"], ["c"]]
    assert group._running == 0


def test_lanes_bound_the_statements_running_at_once() -> None:
    db = Database()
    group = GroupReads(db.run, lanes=2)
    running = 0
    most = 0
    lock = threading.Lock()

    def counting(asked: Sequence[tuple[Principal, str]]) -> list[str | None]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.002)
            return db.run(asked)
        finally:
            with lock:
                running -= 1

    group._run = counting
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda n: group.read(WHO, f"p{n}"), range(200)))
    assert results == [f"row of p{n}" for n in range(200)]
    assert most == 2  # two at once, never three
    assert sorted(u for s in db.statements for u in s) == sorted(f"p{n}" for n in range(200))
    assert group.statements == len(db.statements) < 200  # reads were grouped
    assert group._running == 0


@pytest.mark.parametrize(("max_batch", "lanes"), [(0, 1), (1, 0)])
def test_nonsense_sizes_are_refused(max_batch: int, lanes: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        GroupReads(Database().run, max_batch=max_batch, lanes=lanes)
