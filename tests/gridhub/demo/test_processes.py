"""The demo's supervisor with real processes: ports, start, failure, stop, no orphans."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gridhub.demo.processes import (
    ChildFailed,
    PortInUse,
    Supervisor,
    check_ports,
    raise_on_sigterm,
    wait_for_port,
)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _exists(pid):
            return True
        time.sleep(0.05)
    return False


def _wait_file(path: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} was not written")


def test_a_taken_port_is_named_with_its_service() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with socket.socket() as other:
            other.bind(("127.0.0.1", 0))
            free = other.getsockname()[1]
        with pytest.raises(PortInUse, match=rf"api 127\.0\.0\.1:{port}") as caught:
            check_ports({"api": port, "grpc": free})
        assert f":{free}" not in str(caught.value)
    check_ports({"api": port})  # released: accepted


def test_stop_all_ends_children_and_their_grandchildren(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild.pid"
    script = (
        "import subprocess, sys, time;"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
        f"open({str(marker)!r}, 'w').write(str(p.pid));"
        "time.sleep(600)"
    )
    sup = Supervisor(tmp_path / "logs", grace=5)
    child = sup.spawn("parent", [sys.executable, "-c", script])
    grandchild = int(_wait_file(marker))
    assert child.alive()
    assert sup.pids() == {"parent": child.proc.pid}
    assert sup.stop_all() == []
    assert not child.alive()
    assert _gone(grandchild)


def test_a_child_that_ignores_sigterm_is_killed_and_reported(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = (
        "import signal, time;"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        f"open({str(ready)!r}, 'w').write('1');"
        "time.sleep(600)"
    )
    stopped: list[str] = []
    sup = Supervisor(tmp_path / "logs", grace=0.5)
    sup.on_stop("first", lambda: stopped.append("first"))
    child = sup.spawn("stubborn", [sys.executable, "-c", script])
    _wait_file(ready)
    assert sup.stop_all() == ["stubborn"]
    assert not child.alive()
    assert stopped == ["first"]  # callbacks run too, after the newer children


def test_check_names_a_dead_critical_child_with_its_log(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "logs")
    try:
        done = sup.spawn("helper", [sys.executable, "-c", "print('finished')"], critical=False)
        dead = sup.spawn(
            "server", [sys.executable, "-c", "import sys; print('bind failed'); sys.exit(3)"]
        )
        dead.proc.wait(20)
        done.proc.wait(20)
        with pytest.raises(ChildFailed, match=r"server exited with code 3[\s\S]*bind failed"):
            sup.check()
    finally:
        sup.stop_all()


def test_wait_for_port_gives_up_when_the_child_dies(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ChildFailed, match="api exited"):
        wait_for_port(port, timeout=5, what="api", alive=lambda: False)
    with pytest.raises(TimeoutError, match=f"127.0.0.1:{port}"):
        wait_for_port(port, timeout=0.3, what="api")


def test_sigterm_stops_the_demo_like_ctrl_c() -> None:
    before = signal.getsignal(signal.SIGTERM)
    undo = raise_on_sigterm()
    try:
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGTERM)
    finally:
        undo()
    assert signal.getsignal(signal.SIGTERM) == before


def test_the_watchdog_reaps_what_a_killed_demo_left_behind(tmp_path: Path) -> None:
    """A demo killed with SIGKILL cannot stop its simulators; the watchdog does."""
    marker = tmp_path / "orphan.pid"
    demo = (
        "import subprocess, sys, time\n"
        "from pathlib import Path\n"
        "from gridhub.demo.processes import Supervisor, watchdog_argv\n"
        f"sup = Supervisor(Path({str(tmp_path / 'logs')!r}))\n"
        "sup.spawn('watchdog', watchdog_argv())\n"
        "time.sleep(1.5)\n"  # the watchdog has taken its first look
        "orphan = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"Path({str(marker)!r}).write_text(str(orphan.pid))\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", demo], cwd=Path(__file__).resolve().parents[3])
    try:
        orphan = int(_wait_file(marker))
        time.sleep(1.5)  # one more look: the orphan is on the watchdog's list
        assert _exists(orphan)
        proc.kill()
        proc.wait(10)
        assert _gone(orphan, timeout=20)
    finally:
        proc.kill()
