"""Stopping a process group as ``gridhub up`` does: the first signal to the leader alone,
then escalation to whatever is left of the group. (The demo's way, the whole group from the
start, is covered through its supervisor in ``tests/gridhub/demo/test_processes.py``.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gridhub.processes import group_members, stop_group


def _start(script: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", script], start_new_session=True)


def _wait_file(path: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} was not written")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_leader_that_leaves_quietly_does_not_leave_its_group_behind(tmp_path: Path) -> None:
    marker = tmp_path / "worker.pid"
    leader = _start(
        "import signal, subprocess, sys, time;"
        "w = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)']);"
        f"open({str(marker)!r}, 'w').write(str(w.pid));"
        "signal.signal(signal.SIGINT, lambda *_: sys.exit(0));"
        "time.sleep(600)"
    )
    worker = int(_wait_file(marker))
    overdue: list[bool] = []
    assert stop_group(
        leader, 10.0, first=signal.SIGINT, leader_only=True, overdue=lambda: overdue.append(True)
    )
    assert leader.returncode == 0  # the leader took the SIGINT and left on its own
    assert overdue == []
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)  # a zombie until init reaps it: gone from the group all the same
    assert group_members(leader.pid) == []


def test_a_leader_that_ignores_the_first_signal_is_overdue_then_terminated(
    tmp_path: Path,
) -> None:
    ready = tmp_path / "ready"
    leader = _start(
        "import signal, time;"
        "signal.signal(signal.SIGINT, signal.SIG_IGN);"
        f"open({str(ready)!r}, 'w').write('1');"
        "time.sleep(600)"
    )
    _wait_file(ready)
    overdue: list[bool] = []
    quiet = stop_group(
        leader, 0.3, first=signal.SIGINT, leader_only=True, overdue=lambda: overdue.append(True)
    )
    assert quiet is False
    assert overdue == [True]
    assert leader.returncode == -signal.SIGTERM  # the escalation's first step sufficed
    assert group_members(leader.pid) == []
