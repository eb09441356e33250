"""Two OPC UA gateways for the whole session (building one costs seconds of CPU), reset
between tests; a fresh migrated store with a small district per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from canonical_model.store import make_engine, session_factory
from simulators.devices import GatewayServer, SimDevice
from tests.device_bridge.harness import (
    NEIGHBOUR,
    LoopThread,
    seed_district,
    spec,
)

GW1 = [
    spec("FD01", "fall_detector"),
    spec("SA01", "smoke_alarm"),
    spec("HB01", "health_bracelet"),
    spec("DC01", "door_contact"),
    spec("FD02", "fall_detector", person=NEIGHBOUR),
    spec("FD03", "fall_detector"),
    spec("WL01", "water_leak"),
    spec("FD04", "fall_detector", person=NEIGHBOUR),
    spec("GA01", "gas_alarm"),
]
UNREGISTERED = spec("XX99", "smoke_alarm")
GW2 = [spec("FD21", "fall_detector", "gw02"), spec("FD22", "fall_detector", "gw02")]
REGISTERED = GW1 + GW2


@dataclass
class Gateways:
    loop: LoopThread
    gw1: GatewayServer
    gw2: GatewayServer

    def endpoints(self) -> list[tuple[str, str]]:
        return [("gw01", self.gw1.endpoint), ("gw02", self.gw2.endpoint)]

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return self.loop.run(coro, timeout)


async def _reset(gw: GatewayServer) -> None:
    if not gw.running:
        await gw.start()
    now = datetime.now(UTC)
    for device in gw.devices.values():
        if device.values["alarm_active"]:
            device.acknowledge(int(device.values["alarm_episode"]), now)
        fresh = SimDevice(device.spec)
        changes = {p: fresh.values[p] for p in device.points() if p != "alarm_episode"}
        changes["last_seen"] = now
        await gw.write(device.id, changes, now)
        device.acks.clear()


@pytest.fixture(scope="session")
def gateways() -> Iterator[Gateways]:
    loop = LoopThread("gateways")
    gw1 = GatewayServer("gw01", [SimDevice(s) for s in [*GW1, UNREGISTERED]])
    gw2 = GatewayServer("gw02", [SimDevice(s) for s in GW2])
    loop.run(gw1.start(), 120)
    loop.run(gw2.start(), 120)
    yield Gateways(loop, gw1, gw2)
    loop.run(gw1.close())
    loop.run(gw2.close())
    loop.close()


@pytest.fixture
def gw(gateways: Gateways) -> Iterator[Gateways]:
    gateways.run(_reset(gateways.gw1))
    gateways.run(_reset(gateways.gw2))
    yield gateways
    gateways.run(_reset(gateways.gw2))


@pytest.fixture
def store(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    engine: Engine = make_engine(sqlite_url)
    factory = session_factory(engine)
    seed_district(factory)
    yield factory
    engine.dispose()


@pytest.fixture
def any_store(store_url: str) -> Iterator[sessionmaker[Session]]:
    """The store on SQLite and on PostgreSQL."""
    engine: Engine = make_engine(store_url)
    factory = session_factory(engine)
    seed_district(factory)
    yield factory
    engine.dispose()
