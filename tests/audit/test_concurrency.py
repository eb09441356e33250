"""Several processes append at once, and one dies mid-append: one unbroken chain, no gaps."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit import KeySet, append, verify_store
from canonical_model import ExchangeLogEntry

REPO = Path(__file__).resolve().parents[2]
WRITERS = 4
EACH = 200


def _spawn(url: str, count: int, tag: str, per_tx: int = 1) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.audit.appender", url, str(count), tag, str(per_tx)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _seqs_and_actors(sessions: sessionmaker[Session]) -> tuple[list[int], Counter[str]]:
    with sessions() as s:
        rows = s.execute(
            select(ExchangeLogEntry.seq, ExchangeLogEntry.actor_subject).order_by(
                ExchangeLogEntry.seq
            )
        ).all()
    return [r[0] for r in rows], Counter(r[1] for r in rows)


def test_concurrent_writers_make_one_gapless_chain(
    store_url: str, sessions: sessionmaker[Session], keys: KeySet
) -> None:
    procs = [_spawn(store_url, EACH, f"writer-{i}") for i in range(WRITERS)]
    for proc in procs:
        _out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    seqs, actors = _seqs_and_actors(sessions)
    assert seqs == list(range(1, WRITERS * EACH + 1))
    assert actors == {f"writer-{i}": EACH for i in range(WRITERS)}
    with sessions() as s:
        report = verify_store(s, keys)
    assert report.ok, report.findings
    # The writers really interleaved (otherwise this would not test the lock).
    with sessions() as s:
        order = list(
            s.scalars(select(ExchangeLogEntry.actor_subject).order_by(ExchangeLogEntry.seq))
        )
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    assert switches > WRITERS


def test_a_writer_killed_mid_append_leaves_a_verifiable_chain_that_continues(
    store_url: str, sessions: sessionmaker[Session], keys: KeySet
) -> None:
    victim = _spawn(store_url, 1_000_000, "victim", per_tx=7)
    survivor = _spawn(store_url, 300, "survivor")
    assert victim.stdout is not None
    committed = 0
    deadline = time.monotonic() + 120
    while committed < 140 and time.monotonic() < deadline:
        line = victim.stdout.readline()
        if line.startswith("committed"):
            committed = int(line.split()[1])
    os.kill(victim.pid, signal.SIGKILL)  # most likely in the middle of a 7-entry transaction
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    _out, err = survivor.communicate(timeout=240)
    assert survivor.returncode == 0, err
    with sessions() as s, s.begin():
        append(s, direction="admin", counterpart="cli", actor_subject="after", operation="x")
    seqs, actors = _seqs_and_actors(sessions)
    assert seqs == list(range(1, len(seqs) + 1))
    assert actors["survivor"] == 300
    assert actors["victim"] % 7 == 0  # whole transactions only: the killed one rolled back
    assert actors["victim"] >= committed
    with sessions() as s:
        report = verify_store(s, keys)
    assert report.ok, report.findings
    assert report.last_seq == seqs[-1]
