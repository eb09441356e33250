"""Forked workers fed through pipes (``adapters.forked``), with real processes."""

from __future__ import annotations

import os
import resource
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from adapters.forked import ForkedWorkers, WorkerFailed
from adapters.parallel import PageMapper


def _echo(value: object) -> object:
    return value


def _pid_and_square(n: int) -> tuple[int, int]:
    return os.getpid(), n * n


def _sizes(blob: bytes, factor: int) -> tuple[int, bytes]:
    return len(blob), blob * factor


def _touch(path: str) -> str:
    Path(path).write_text("ran", encoding="utf-8")
    return path


def _hold(started: str, release: str) -> str:
    """Say it started, then hold the worker until ``release`` exists (at most 20 s)."""
    Path(started).write_text("started", encoding="utf-8")
    deadline = time.monotonic() + 20
    while not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return "released"


def _fail(message: str) -> None:
    raise LookupError(message)


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 20
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


@pytest.fixture
def pool() -> Iterator[ForkedWorkers]:
    workers = ForkedWorkers(2)
    try:
        yield workers
    finally:
        workers.close()


def test_every_job_comes_back_with_its_own_result_from_both_workers(
    pool: ForkedWorkers,
) -> None:
    jobs = [pool.submit(_pid_and_square, n) for n in range(40)]
    results = [job.result() for job in jobs]
    assert [square for _, square in results] == [n * n for n in range(40)]
    pids = {pid for pid, _ in results}
    assert len(pids) == 2
    assert os.getpid() not in pids


def test_jobs_larger_than_a_pipe_go_both_ways_without_a_deadlock(pool: ForkedWorkers) -> None:
    blob = "网格员".encode() * 400_000  # 3.6 MB: more than any pipe holds
    jobs = [pool.submit(_sizes, blob, 2) for _ in range(3)]  # written before any is read
    for job in jobs:
        size, doubled = job.result(timeout=60)
        assert size == len(blob)
        assert doubled == blob * 2


def test_a_job_not_started_is_taken_back_and_never_run(tmp_path: Path) -> None:
    one = ForkedWorkers(1)
    try:
        started, release = tmp_path / "started", tmp_path / "release"
        holding = one.submit(_hold, str(started), str(release))
        _wait_for(started)
        queued = one.submit(_touch, str(tmp_path / "queued"))
        assert not holding.cancel()  # a worker has started it: it is the worker's
        assert queued.cancel()
        assert queued.cancelled()
        assert queued.done()
        release.touch()
        after = one.submit(_touch, str(tmp_path / "after"))
        assert holding.result(timeout=30) == "released"
        assert after.result(timeout=30) == str(tmp_path / "after")
        # The worker read the taken-back job before the one after it, and skipped it.
        assert not (tmp_path / "queued").exists()
    finally:
        one.close()


def test_a_job_that_raises_fails_alone(pool: ForkedWorkers) -> None:
    bad = pool.submit(_fail, "张三 is not here")
    good = pool.submit(_echo, "李四")
    with pytest.raises(WorkerFailed, match="LookupError") as failed:
        bad.result(timeout=30)
    assert "张三" not in str(failed.value)  # the type travels back, never the data
    assert good.result(timeout=30) == "李四"
    assert pool.submit(_echo, 3).result(timeout=30) == 3


def test_a_killed_worker_fails_the_jobs_it_held_and_is_not_given_more(tmp_path: Path) -> None:
    one = ForkedWorkers(1)
    try:
        started = tmp_path / "started"
        held = one.submit(_hold, str(started), str(tmp_path / "never"))
        _wait_for(started)
        (pid,) = one.pids
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(WorkerFailed, match="died"):
            held.result(timeout=30)
        assert not one.alive
        with pytest.raises(WorkerFailed):
            one.submit(_echo, 1)
    finally:
        one.close()


def test_close_takes_back_what_was_not_started_and_reaps_every_worker(tmp_path: Path) -> None:
    one = ForkedWorkers(1)
    started, release = tmp_path / "started", tmp_path / "release"
    one.submit(_hold, str(started), str(release))
    _wait_for(started)
    one.submit(_touch, str(tmp_path / "queued"))
    (pid,) = one.pids
    release.touch()
    one.close()
    assert not psutil.pid_exists(pid)  # reaped: not even a zombie is left
    assert not (tmp_path / "queued").exists()


def test_a_page_mapper_whose_worker_died_maps_inline_from_then_on(tmp_path: Path) -> None:
    mapper = PageMapper(1, min_page=1, label="test")
    try:
        started = tmp_path / "started"
        held = mapper.run(1, _hold, str(started), str(tmp_path / "never"))
        assert held is not None
        _wait_for(started)
        pool = mapper._pool
        assert pool is not None
        (pid,) = pool.pids
        os.kill(pid, signal.SIGKILL)
        assert mapper.results(held) is None  # the caller maps this page itself
        assert mapper.run(1, _echo, 1) is None  # and every page after it
    finally:
        mapper.close()
    assert not psutil.pid_exists(pid)


def test_workers_told_to_leave_do_so_although_a_later_fork_holds_their_pipes() -> None:
    first, second = ForkedWorkers(1), ForkedWorkers(1)
    try:
        assert first.submit(_echo, 1).result(timeout=30) == 1
        assert second.submit(_echo, 2).result(timeout=30) == 2  # forked with first's pipes
        first.close()
        assert first.exit_codes == [0]  # it left on its own: not killed, not crashed
    finally:
        first.close()
        second.close()
    assert second.exit_codes == [0]


def test_pipes_past_descriptor_1024_work(tmp_path: Path) -> None:
    """A busy server holds over a thousand sockets; ``select`` could not watch the pipes."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard >= 2048, "the machine must allow 2,048 open files for this test"
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        pool = ForkedWorkers(1)
        try:
            assert pool.submit(_echo, "王芳").result(timeout=30) == "王芳"
        finally:
            pool.close()
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
