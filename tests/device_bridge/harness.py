"""Real servers for the device-bridge tests: event loops in threads, Mosquitto, a district.

Gateways and the bridge each get their own event loop in a thread (as they would be
separate processes), so a test drives them with ``run(coro)`` and watches the store.
"""

from __future__ import annotations

import asyncio
import getpass
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import Address, Event, GridLevel, GridUnit, Person, Task
from canonical_model.roster import GridWorker
from canonical_model.store import transaction
from canonical_model.values import check_digit
from device_bridge import Bridge, BridgeConfig, MqttSettings, OpcUaGateway, register_devices
from simulators.devices import DeviceSpec

T = TypeVar("T")

DISTRICT = "330106"
COMMUNITY = "330106001001"
GRID = "330106001001001"
BUILDING = "330106001001001001"
BUILDING2 = "330106001001001002"


def resident_id(n: int, born: str = "19430305") -> str:
    first17 = f"{DISTRICT}{born}{n:03d}"
    return first17 + check_digit(first17)


ELDER = resident_id(11)  # 82, living alone
NEIGHBOUR = resident_id(12, "19400101")  # 85, lives with family


def spec(
    device_id: str,
    kind: str,
    gateway: str = "gw01",
    *,
    person: str | None = ELDER,
    building: str = BUILDING,
    heartbeat_s: int = 300,
) -> DeviceSpec:
    protocol = "mqtt" if gateway == "mqtt" else "opcua"
    return DeviceSpec(device_id, kind, gateway, protocol, building, person, heartbeat_s, True)


class LoopThread:
    """An asyncio loop in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    """A broker of our own on a free port, persistent, restartable."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {folder}/\n"
            f"user {getpass.getuser()}\nmax_queued_messages 10000\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen(
            [binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # SIGTERM: the broker saves its sessions and queues
            self.proc.wait(10)
            self.proc = None


def seed_district(sessions: sessionmaker[Session]) -> None:
    """One community, one grid with two on-duty workers, two buildings, two elders."""
    with transaction(sessions) as s:
        for code, level, parent in (
            (DISTRICT, GridLevel.DISTRICT, None),
            ("330106001", GridLevel.SUBDISTRICT, DISTRICT),
            (COMMUNITY, GridLevel.COMMUNITY, "330106001"),
            (GRID, GridLevel.GRID, COMMUNITY),
            (BUILDING, GridLevel.BUILDING, GRID),
            (BUILDING2, GridLevel.BUILDING, GRID),
        ):
            s.add(GridUnit(code=code, name=f"unit {code}", level=level, parent_code=parent))
            s.flush()
        s.add_all(
            [
                GridWorker(code="W1", name="w1", grid_code=GRID),
                GridWorker(code="W2", name="w2", grid_code=GRID),
                GridWorker(code="CA1", name="ca", grid_code=COMMUNITY, role="community_admin"),
            ]
        )
        home = Address(normalized="A1", building_code=BUILDING)
        s.add(home)
        s.flush()
        s.add_all(
            [
                Person(
                    resident_id=ELDER,
                    birth_date=date(1943, 3, 5),
                    grid_code=GRID,
                    residential_address_id=home.id,
                    tags=["elderly", "aged_80_plus", "living_alone"],
                ),
                Person(
                    resident_id=NEIGHBOUR,
                    birth_date=date(1940, 1, 1),
                    grid_code=GRID,
                    tags=["elderly", "aged_80_plus"],
                ),
            ]
        )


def register(
    sessions: sessionmaker[Session],
    specs: list[DeviceSpec],
    thresholds: dict[str, Any],
    heartbeats: dict[str, int] | None = None,
) -> None:
    rows = []
    for s in specs:
        row = s.manifest_row()
        row["thresholds"] = thresholds.get(s.device_id, {})
        row["heartbeat_s"] = (heartbeats or {}).get(s.device_id, s.heartbeat_s)
        rows.append(row)
    with transaction(sessions) as s:
        report = register_devices(s, rows)
    assert not report.refused


def fast_config(
    gateways: list[tuple[str, str]], mqtt_port: int | None = None, **overrides: Any
) -> BridgeConfig:
    values: dict[str, Any] = {
        "gateways": [
            OpcUaGateway(id=gid, endpoint=endpoint, building_code=BUILDING, timeout_s=2)
            for gid, endpoint in gateways
        ],
        "mqtt": MqttSettings(port=mqtt_port, client_id=f"bridge-{mqtt_port}", keepalive_s=5)
        if mqtt_port
        else None,
        "http_port": 0,
        "publishing_interval_ms": 50,
        "alarm_interval_ms": 25,
        "watchdog_s": 0.5,
        "reconnect_min_s": 0.2,
        "reconnect_max_s": 1.0,
        "tick_s": 0.2,
        "flush_s": 0.3,
        "registry_refresh_s": 0.5,
        "relay_interval_s": None,
        "ack_timeout_s": 2,
    }
    values.update(overrides)
    return BridgeConfig(**values)


@dataclass
class RunningBridge:
    bridge: Bridge
    thread: LoopThread
    stop: asyncio.Event
    future: Any

    def wait_connected(self, *gateways: str, timeout: float = 20) -> None:
        wait_for(lambda: all(self.bridge.connected(g) for g in gateways), timeout, "connected")


@contextmanager
def running_bridge(
    config: BridgeConfig, sessions: sessionmaker[Session]
) -> Iterator[RunningBridge]:
    thread = LoopThread("bridge")
    bridge = Bridge(config, sessions)
    stop = thread.run(_event())
    future = asyncio.run_coroutine_threadsafe(bridge.run(stop), thread.loop)
    try:
        wait_for(lambda: bridge.ready.is_set() or future.done(), 20, "bridge ready")
        if future.done():
            future.result()
        yield RunningBridge(bridge, thread, stop, future)
    finally:
        thread.loop.call_soon_threadsafe(stop.set)
        try:
            future.result(20)
        finally:
            thread.close()


async def _event() -> asyncio.Event:
    return asyncio.Event()


def wait_for(predicate: Callable[[], Any], timeout: float = 10, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def counter(source_ref: str) -> int:
    """The latch counter of an alarm's reference (``…/alarm/<counter>-<since>``)."""
    return int(source_ref.rsplit("/", 1)[1].partition("-")[0])


def events_of(sessions: sessionmaker[Session], device: str) -> list[Event]:
    with sessions() as s:
        rows = s.scalars(select(Event).order_by(Event.id)).all()
        return [e for e in rows if (e.payload or {}).get("device") == device]


def tasks_of(sessions: sessionmaker[Session], event: Event) -> list[Task]:
    with sessions() as s:
        return list(s.scalars(select(Task).where(Task.event_id == event.id)))
