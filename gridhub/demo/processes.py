"""The demo's children: started in order, watched, and stopped in reverse order — always.

Each child runs in its own session (process group), so Ctrl-C reaches the demo alone and
the demo stops the children in an order that loses nothing (servers before the sources
they read); stopping a child signals its whole group, so a uvicorn or an OPC UA worker it
started goes too. On Linux each child also asks the kernel to SIGTERM it if the demo dies
without cleaning up (``kill -9``), so no child is ever orphaned.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from gridhub.processes import stop_group

__all__ = [
    "ChildFailed",
    "PortInUse",
    "Supervisor",
    "check_ports",
    "raise_on_sigterm",
    "wait_for_port",
    "watchdog_argv",
]

_PR_SET_PDEATHSIG = 1
#: After a child's grace period, or after it exited: SIGKILL to whatever is left of its group.
_KILL_LEFTOVERS = ((signal.SIGKILL, 5.0),)


class PortInUse(RuntimeError):
    """A port the demo needs is taken: say which service, which port and what to do."""


class ChildFailed(RuntimeError):
    """A child exited while the demo needed it; the message ends with its log's tail."""


def check_ports(ports: Mapping[str, int], host: str = "127.0.0.1") -> None:
    """Refuse to start when any port is taken, naming every taken one at once."""
    taken: list[str] = []
    for name, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                taken.append(f"{name} {host}:{port}")
    if taken:
        raise PortInUse(
            "port(s) already in use: "
            + ", ".join(taken)
            + " — stop what holds them (another `gridhub demo`?) or pick others with "
            "--port NAME=PORT"
        )


def wait_for_port(
    port: int, *, timeout: float, what: str, alive: Callable[[], bool] = lambda: True
) -> None:
    """Until something accepts on 127.0.0.1:``port``; fails early when ``alive`` turns false."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise ChildFailed(f"{what} exited during start-up")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def watchdog_argv() -> list[str]:
    """The orphan watchdog for this process (``gridhub.demo.watchdog``); spawn it first."""
    return [sys.executable, "-m", "gridhub.demo.watchdog", str(os.getpid())]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def raise_on_sigterm() -> Callable[[], None]:
    """SIGTERM behaves as Ctrl-C (KeyboardInterrupt in the main thread); returns the undo."""

    def _handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _handler)

    def undo() -> None:
        signal.signal(signal.SIGTERM, previous)

    return undo


@dataclass(slots=True)
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    critical: bool = True
    grace: float | None = None  # seconds between SIGTERM and SIGKILL; None: the supervisor's

    def alive(self) -> bool:
        return self.proc.poll() is None


class Supervisor:
    """Starts children and stop callbacks; ``stop_all`` undoes them newest first."""

    def __init__(self, log_dir: Path, *, grace: float = 10.0) -> None:
        self.log_dir = log_dir
        self.grace = grace
        self._order: list[Child | tuple[str, Callable[[], None]]] = []

    @property
    def children(self) -> list[Child]:
        return [c for c in self._order if isinstance(c, Child)]

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        critical: bool = True,
        grace: float | None = None,
    ) -> Child:
        """Start ``argv`` with its output in ``<log_dir>/<name>.log``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(  # noqa: S603 - the demo's own argv
                list(argv),
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        child = Child(name, proc, log, critical, grace)
        self._order.append(child)
        return child

    def on_stop(self, name: str, stop: Callable[[], None]) -> None:
        """Run ``stop`` when the demo stops (for simulators that manage their own process)."""
        self._order.append((name, stop))

    def check(self) -> None:
        """Raise ChildFailed if a critical child has exited."""
        for child in self.children:
            code = child.proc.poll()
            if code is not None and child.critical:
                raise ChildFailed(
                    f"{child.name} exited with code {code}; last lines of {child.log}:\n"
                    + tail(child.log)
                )

    def pids(self) -> dict[str, int]:
        return {c.name: c.proc.pid for c in self.children if c.proc.poll() is None}

    def stop_all(self) -> list[str]:
        """Stop everything, newest first; returns what had to be killed (should be empty)."""
        killed: list[str] = []
        while self._order:
            item = self._order.pop()
            if isinstance(item, Child):
                grace = self.grace if item.grace is None else item.grace
                if not _stop_group(item.proc, grace):
                    killed.append(item.name)
            else:
                with contextlib.suppress(Exception):
                    item[1]()
        return killed

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def _stop_group(proc: subprocess.Popen[bytes], grace: float) -> bool:
    """SIGTERM the child's group, then SIGKILL after ``grace``; True when it went quietly.
    Anything the child left behind in its group (a worker it forked) is killed too."""
    return stop_group(proc, grace, escalate=_KILL_LEFTOVERS)


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log (children log codes and counts, never personal data)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
