"""``gridhub consume hotline``: a long-lived consumer that commits and stops on a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.hotline import HotlineConfig
from canonical_model.store import make_engine, session_factory
from tests.adapters.hotline.helpers import make_orders, offsets, publish, stored_keys

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]

# The command as the gridhub CLI mounts it, with the hotline settings given as JSON (the
# settings object gets its ``hotline`` field from the lead).
CHILD = """
import sys
import typer
import gridhub.cli.consume as consume
from adapters.hotline import HotlineConfig

consume._hotline_config = lambda: HotlineConfig.model_validate_json(sys.argv[1])
root = typer.Typer()
root.command("version")(lambda: None)
root.add_typer(consume.app, name="consume")
root(["consume", "hotline", "--checkpoint-every", "10000"])
"""


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_consume_commits_while_idle_and_stops_cleanly_on_a_signal(
    config: HotlineConfig, sqlite_url: str, stop: signal.Signals
) -> None:
    sessions = session_factory(make_engine(sqlite_url))
    orders = make_orders(120)
    publish(config, orders[:70])
    env = {**os.environ, "GRIDHUB_DATABASE_URL": sqlite_url}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, config.model_dump_json()],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _eventually(lambda: len(stored_keys(sessions)) == 70)  # < checkpoint: a Flush
        publish(config, orders[70:])
        assert _eventually(lambda: len(stored_keys(sessions)) == 120)
        child.send_signal(stop)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err[-2000:]
    assert "stopped; hotline/work_orders: received 120" in out
    assert sum(offsets(sessions).values()) == 120
    for order in orders[:5]:  # counts only: no caller's name or phone in the output
        for value in (order.caller_name, order.caller_phone):
            assert not value or value not in out + err


def _eventually(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False
