"""Running a simulator's HTTP server in a thread or a subprocess, for its control class.

The 户籍 and health simulators are steered the same way (a thread is cheap; a subprocess
keeps the server off the caller's GIL and survives the caller), so the mechanics live here
once and each control module keeps only what is its own: its server, its arguments.
"""

from __future__ import annotations

import json
import subprocess as sp
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["data_argument", "launch", "serve_in_thread", "shut_down"]

START_TIMEOUT_S = 120.0
_REPO = Path(__file__).resolve().parents[1]


def serve_in_thread(server: Any, name: str) -> threading.Thread:
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
    )
    thread.start()
    return thread


def data_argument(
    items: Iterable[Mapping[str, Any]], prefix: str, filename: str
) -> tuple[tempfile.TemporaryDirectory[str], str]:
    """Records handed to a subprocess as ``@file`` (a command line could not hold them)."""
    tmp = tempfile.TemporaryDirectory(prefix=prefix)
    data = Path(tmp.name) / filename
    data.write_text(json.dumps(list(map(dict, items)), ensure_ascii=False))
    return tmp, f"@{data}"


def launch(args: list[str], env: Mapping[str, str], what: str) -> tuple[sp.Popen[str], Any]:
    """Start ``args`` and wait for its first stdout line: the JSON it prints once serving."""
    proc = sp.Popen(args, cwd=_REPO, env=dict(env), stdout=sp.PIPE, text=True, bufsize=1)
    line: list[str] = []
    reader = threading.Thread(
        target=lambda: line.append(proc.stdout.readline() if proc.stdout else ""), daemon=True
    )
    reader.start()
    reader.join(START_TIMEOUT_S)
    if not line or not line[0].strip():
        shut_down(None, None, proc, None)
        raise RuntimeError(f"{what} subprocess did not start")
    return proc, json.loads(line[0])


def shut_down(
    server: Any,
    thread: threading.Thread | None,
    proc: sp.Popen[str] | None,
    tmp: tempfile.TemporaryDirectory[str] | None,
) -> None:
    """Stop whichever of the two modes is running and remove its data file."""
    if server is not None:
        server.shutdown()
        server.server_close()
    if thread is not None:
        thread.join(5)
    if proc is not None:
        proc.terminate()
        try:
            proc.wait(10)
        except sp.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
    if tmp is not None:
        tmp.cleanup()
