"""An OPC UA gateway restarted while a device's alarm is latched.

The bridge runs as its own process (``gridhub device-bridge run``); the gateway is a real
asyncua server that is stopped and started again with its devices' state intact, as a
gateway reboot keeps a device's latched alarm. After the restart the bridge re-reads every
latched alarm: each alarm must still give exactly one event and one task.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from simulators.devices import GatewayServer, SimDevice
from tests.device_bridge.harness import (
    LoopThread,
    counter,
    events_of,
    fast_config,
    free_port,
    register,
    seed_district,
    spec,
    tasks_of,
)
from tests.reliability.accounting import tally
from tests.reliability.harness import GRIDHUB, REPO, hub_env, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.reliability]
DEVICES = [spec(f"FD9{n}", "fall_detector", "gw09") for n in (1, 2, 3)]


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    found = re.search(rf'^{name}{{gateway="gw09"}} ([0-9.e+]+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def _safe_metric(port: int, name: str) -> float:
    try:
        return _metric(port, name)
    except OSError:
        return 0.0


def test_latched_alarms_give_one_event_and_one_task_across_a_gateway_restart(
    sqlite_url: str, sqlite_store: sessionmaker[Session], tmp_path: Path
) -> None:
    seed_district(sqlite_store)
    register(sqlite_store, DEVICES, {})
    loop = LoopThread("gateway")
    gateway = GatewayServer("gw09", [SimDevice(s) for s in DEVICES])
    loop.run(gateway.start(), 120)
    http_port = free_port()
    config = fast_config([("gw09", gateway.endpoint)], http_port=http_port)
    config_path = tmp_path / "bridge.json"
    config_path.write_text(json.dumps(config.model_dump(mode="json")), encoding="utf-8")
    log = tmp_path / "bridge.log"
    env = hub_env(sqlite_url, tmp_path / "var", checkpoint_every=1)
    with log.open("ab") as out:
        bridge = subprocess.Popen(
            [str(GRIDHUB), "device-bridge", "run", "--config", str(config_path)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=out,
        )
    episodes: dict[str, int] = {}
    try:
        wait_for(
            lambda: _safe_metric(http_port, "device_bridge_gateway_connected") == 1.0,
            90,
            "the bridge to connect",
        )
        episodes["FD91"] = loop.run(gateway.raise_alarm("FD91"))
        [event] = wait_for(lambda: events_of(sqlite_store, "FD91"), 20, "the first alarm")
        wait_for(lambda: tasks_of(sqlite_store, event), 10, "its task")
        reconnects = _metric(http_port, "device_bridge_gateway_reconnects_total")
        # Latched just before the reboot: the bridge may or may not have seen it live.
        episodes["FD92"] = loop.run(gateway.raise_alarm("FD92"))
        loop.run(gateway.restart(down_s=1.0))
        wait_for(
            lambda: _metric(http_port, "device_bridge_gateway_reconnects_total") > reconnects,
            30,
            "the bridge to reconnect",
        )
        episodes["FD93"] = loop.run(gateway.raise_alarm("FD93"))  # after: a live one
        wait_for(
            lambda: events_of(sqlite_store, "FD92") and events_of(sqlite_store, "FD93"),
            20,
            "the alarms of FD92 and FD93",
        )
        wait_for(
            lambda: all(
                tasks_of(sqlite_store, e) for d in episodes for e in events_of(sqlite_store, d)
            ),
            10,
            "every task",
        )
        loop.run(gateway.raise_alarm("FD91"))  # the same latched episode, notified again
        time.sleep(1.0)  # room for a duplicate of the re-read alarms to land, if one would
    finally:
        bridge.send_signal(signal.SIGTERM)
        try:
            bridge.wait(30)
        except subprocess.TimeoutExpired:
            bridge.kill()
        loop.run(gateway.close())
        loop.close()
        print(log.read_text(errors="replace")[-1500:])

    events = {d: events_of(sqlite_store, d) for d in episodes}
    got = [(d, counter(e.source_ref or "")) for d, es in events.items() for e in es]
    tally("device alarms → events", episodes.items(), got).assert_balanced()
    tasks = [(d, len(tasks_of(sqlite_store, e))) for d, es in events.items() for e in es]
    tally("device alarms → tasks", [(d, 1) for d in episodes], tasks).assert_balanced()
