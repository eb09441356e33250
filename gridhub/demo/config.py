"""What one demo run needs to know: size, seed, ports and where its state lives.

Every child step (the Airflow pipeline, the servers, the trickle) gets its settings through
its environment, built here by ``DemoConfig.env``; the demo never changes its own
``os.environ`` or the cached settings object, so two demos (a developer's and a test's) can
run side by side on different ports and directories.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gridhub.settings import REPO_ROOT

__all__ = ["DEFAULT_PORTS", "DemoConfig", "Paths"]

#: Service → default loopback port (the README's ports; the test passes free ones).
DEFAULT_PORTS: dict[str, int] = {
    "api": 8000,
    "grpc": 50051,
    "hukou": 8701,
    "health": 8702,
    "kafka": 9092,
    "bridge": 9109,
}

#: Hotline orders on the topic before the first sync, per 1,000 residents.
ORDERS_PER_THOUSAND = 25


@dataclass(frozen=True, slots=True)
class Paths:
    """The demo's files under ``root`` (``var/demo`` by default)."""

    root: Path

    @property
    def district(self) -> Path:
        return self.root / "district"

    @property
    def truth(self) -> Path:
        return self.root / "truth.json"

    @property
    def store(self) -> Path:
        return self.root / "gridhub.db"

    @property
    def civil_affairs(self) -> Path:
        return self.root / "civil_affairs.db"

    @property
    def utility(self) -> Path:
        return self.root / "utility"

    @property
    def broker(self) -> Path:
        return self.root / "broker"

    @property
    def devices(self) -> Path:
        return self.root / "devices"

    @property
    def airflow(self) -> Path:
        return self.root / "airflow"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def events(self) -> Path:
        """JSON lines the pipeline child writes as it goes (read by the progress display)."""
        return self.root / "pipeline.jsonl"

    @property
    def sources_ready(self) -> Path:
        """Written by the demo once every source serves; the pipeline waits for it."""
        return self.root / "sources.json"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def state(self) -> Path:
        """Ports and child pids of the running demo (for operators and the end-to-end test)."""
        return self.root / "state.json"


@dataclass(frozen=True, slots=True)
class DemoConfig:
    persons: int = 20_000
    seed: int = 7
    var_dir: Path = REPO_ROOT / "var"
    serve: bool = True
    duration: float | None = None  # seconds of serving; None: until Ctrl-C
    trickle_every: float = 10.0  # seconds between trickle rounds
    hotline_every: float = 5.0  # seconds between live hotline calls
    alarm_rate: float = 2.0  # device alarms per minute
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    gateways: int = 2
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))

    @property
    def paths(self) -> Paths:
        return Paths(self.var_dir / "demo")

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.paths.store.as_posix()}"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports['kafka']}"

    @property
    def initial_orders(self) -> int:
        return max(20, self.persons * ORDERS_PER_THOUSAND // 1000)

    def env(self, sources: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a child step: the caller's, plus the demo's GRIDHUB_ and
        Airflow settings, plus each source's section (``sources``: NAME__FIELD → value)."""
        p = self.paths
        env = dict(os.environ)
        env.update(
            {
                "GRIDHUB_VAR_DIR": str(p.root),
                "GRIDHUB_DATABASE_URL": self.database_url,
                "GRIDHUB_UTILITY__INBOX": str(p.utility / "inbox"),
                "GRIDHUB_UTILITY__ARCHIVE": str(p.utility / "archive"),
                "GRIDHUB_UTILITY__REJECTED": str(p.utility / "rejected"),
                "GRIDHUB_UTILITY__MANIFEST_GRACE_S": "0",
                "GRIDHUB_HOTLINE__BOOTSTRAP_SERVERS": self.bootstrap,
                "GRIDHUB_DEVICE_BRIDGE__HTTP_PORT": str(self.ports["bridge"]),
                "AIRFLOW_HOME": str(REPO_ROOT),
                "AIRFLOW_CONFIG": str(REPO_ROOT / "airflow.cfg"),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{p.airflow / 'airflow.db'}",
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(p.airflow / "logs"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        for key, value in (sources or {}).items():
            env[f"GRIDHUB_{key}"] = value
        return env

    def gridhub(self, *args: str) -> list[str]:
        """argv of a ``gridhub`` command from this interpreter's environment (no PATH lookup)."""
        return [str(Path(sys.executable).with_name("gridhub")), *args]
