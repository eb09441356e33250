"""The demo's last line of defence against orphans: ``python -m gridhub.demo.watchdog PID``.

The supervisor's own children die with the demo (parent-death signal), but the simulator
control classes start processes of their own (Tansu and its object store, the SOAP and FHIR
servers) that would outlive a demo killed with ``kill -9``. This small child keeps a list of
every process below the demo, refreshed each second; when the demo goes — the kernel sends
this process SIGTERM, or it sees the demo gone — it terminates whatever on that list is still
running (the same process: pid and start time both match), then exits.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence

import psutil

__all__ = ["descendants", "main", "reap"]

_GRACE_S = 5.0


def descendants(pid: int) -> dict[int, float]:
    """pid → start time of every process below ``pid`` (empty once it is gone)."""
    try:
        return {p.pid: p.create_time() for p in psutil.Process(pid).children(recursive=True)}
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return {}


def reap(known: dict[int, float], *, grace: float = _GRACE_S) -> list[int]:
    """Terminate, then kill, each process of ``known`` that is still the same process."""
    alive: list[psutil.Process] = []
    for pid, started in known.items():
        try:
            proc = psutil.Process(pid)
            if abs(proc.create_time() - started) < 0.01:
                proc.terminate()
                alive.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    _, still = psutil.wait_procs(alive, timeout=grace)
    for proc in still:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    return [p.pid for p in alive]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    demo = int(args[0])
    me = psutil.Process().pid
    gone = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: gone.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the demo's to handle
    known: dict[int, float] = {}
    while not gone.is_set():
        if not psutil.pid_exists(demo):
            break
        now = descendants(demo)
        now.pop(me, None)
        known = now or known
        gone.wait(1.0)
    if not psutil.pid_exists(demo) or psutil.Process().ppid() != demo:
        reap(known)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
