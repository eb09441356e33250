"""``gridhub device-bridge``: register an installer's list, run the service as a process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from gridhub.cli.device_bridge import app
from simulators.devices import device_population
from simulators.district import District
from tests.device_bridge.conftest import REGISTERED, Gateways
from tests.device_bridge.harness import events_of, free_port, register, wait_for

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def test_register_takes_the_simulated_installation_list(sqlite_url: str, tmp_path: Path) -> None:
    specs = device_population(District(300, 3), gateways=2, mqtt_share=0.3, seed=3)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps([s.manifest_row() for s in specs]))
    result = runner.invoke(app, ["register", str(manifest), "--url", sqlite_url])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output.strip().splitlines()[-1])
    assert counts["inserted"] == len(specs)
    assert counts["refused"] == 0
    # nobody of this district is in the store: devices are kept, unlinked, never refused
    assert counts["unlinked"] == sum(1 for s in specs if s.resident_id)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"device_id": "X 1", "kind": "fall_detector", "gateway": "g"}]))
    refused = runner.invoke(app, ["register", str(bad), "--url", sqlite_url])
    assert refused.exit_code == 1
    assert "row 1: device_id missing or not a plain id" in refused.output


@pytest.mark.integration
def test_run_serves_health_and_metrics_and_stops_cleanly_on_sigterm(
    gw: Gateways, store: sessionmaker[Session], sqlite_url: str, tmp_path: Path
) -> None:
    register(store, REGISTERED, {})
    port = free_port()
    config = tmp_path / "bridge.json"
    config.write_text(
        json.dumps(
            {
                "gateways": [{"id": g, "endpoint": e} for g, e in gw.endpoints()],
                "http_port": port,
                "publishing_interval_ms": 50,
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from gridhub.cli.device_bridge import app; app()",
            "run",
            "--config",
            str(config),
            "--url",
            sqlite_url,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def health() -> dict[str, object] | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    body = json.loads(r.read())
            except OSError:
                return None
            return body if body["status"] == "ok" else None

        body = wait_for(health, 40, "healthy bridge process")
        assert body["gateways"] == {"gw01": True, "gw02": True}
        gw.run(gw.gw1.raise_alarm("FD01"))
        wait_for(lambda: events_of(store, "FD01"), 10, "alarm through the service")

        def metrics() -> str | None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                text: str = r.read().decode()
            return text if "device_bridge_alarm_to_task_seconds_count 1.0" in text else None

        text = wait_for(metrics, 5, "metrics of the alarm")
        assert 'device_bridge_gateway_connected{gateway="gw01"} 1.0' in text
        assert 'device_bridge_events_total{status="new",type="device.fall"} 1.0' in text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert "device.fall gw01/" in err
