"""Stopping a child that runs in a process group of its own, and everything it started.

The demo's supervisor and ``gridhub up`` both start their children with
``start_new_session=True`` so that a terminal's Ctrl-C reaches only the parent, which then
stops the children in an order that loses nothing. Stopping one is the same dance in both:
a first, polite signal (to the whole group, or to the leader alone when the leader is a
supervisor itself, as ``airflow standalone`` is), a grace period, then escalation to the
group for whatever is left — a uvicorn worker, a task mid-sync — so nothing outlives its
parent. One copy here, so the two cannot drift apart.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence

__all__ = ["ESCALATE", "group_members", "signal_group", "stop_group"]

#: After the grace period: SIGTERM for 10 s, then SIGKILL for 5 s, to what is left.
ESCALATE: tuple[tuple[signal.Signals, float], ...] = (
    (signal.SIGTERM, 10.0),
    (signal.SIGKILL, 5.0),
)
_POLL_S = 0.1


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid``; False when the group is already gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member changed user: nothing more this process can do
        return False
    return True


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    import psutil

    alive = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                alive.append(proc.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return alive


def stop_group(
    proc: subprocess.Popen[bytes],
    grace: float,
    *,
    first: signal.Signals = signal.SIGTERM,
    leader_only: bool = False,
    escalate: Sequence[tuple[signal.Signals, float]] = ESCALATE,
    overdue: Callable[[], None] | None = None,
) -> bool:
    """Stop ``proc`` (a session leader: its pid is its group's id) and its whole group.

    ``first`` goes to the group, or to the leader alone with ``leader_only``; after ``grace``
    seconds without an exit ``overdue`` is called, and each ``escalate`` step signals what
    is left of the group and waits up to its seconds. Members still alive after a quiet exit
    (a worker the leader forked and forgot) are escalated on too. Returns True when the
    leader exited within ``grace``.
    """
    pgid = proc.pid
    quiet = True
    if proc.poll() is None:
        if leader_only:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(first)
        else:
            signal_group(pgid, first)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            quiet = False
            if overdue is not None:
                overdue()
    for sig, wait_s in escalate:
        proc.poll()
        if proc.returncode is not None and not group_members(pgid):
            break
        if not signal_group(pgid, sig):
            break
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and (proc.poll() is None or group_members(pgid)):
            time.sleep(_POLL_S)
    proc.wait()
    return quiet
