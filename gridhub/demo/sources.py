"""The district's source systems on loopback, each over its real protocol, all from one truth.

One ``District`` is generated and every simulator is fed from it — the 户籍 register (SOAP),
the 民政 database (SQLite behind unixODBC), the health server (FHIR), the utility
companies' file drops, the device gateways (OPC UA, MQTT) and the 12345 hotline (work
orders on a Kafka-protocol broker) — so the resolved persons can be scored against the
truth: which source record belongs to which resident (``truth.json``, never given to the
hub).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridhub.demo.config import DemoConfig
from gridhub.demo.processes import ChildFailed, Supervisor
from gridhub.settings import REPO_ROOT

if TYPE_CHECKING:
    from simulators.district import District

__all__ = ["Sources", "generate_district", "source_settings", "start_sources"]

HUKOU_PATH = "/hukou"
HEALTH_PATH = "/fhir"
UTILITY_DAYS = 2
DEVICE_MQTT_SHARE = 0.25
#: Devices on the gateways: enough buildings to watch, few enough to start in seconds.
DEVICE_LIMIT = 1500
_START_TIMEOUT_S = 180.0

Step = Callable[[str], None]


@dataclass(slots=True)
class Sources:
    """What the demo started: per source the records offered, and the truth for scoring."""

    offered: dict[str, int] = field(default_factory=dict)
    truth: dict[str, dict[str, str]] = field(default_factory=dict)
    devices: Path | None = None
    #: Simulator processes the control classes started (not the supervisor's children).
    pids: dict[str, int] = field(default_factory=dict)
    #: Seconds per start-up phase (district, seed, each source, …): where the time goes.
    timings: dict[str, float] = field(default_factory=dict)


def source_settings(config: DemoConfig) -> dict[str, str]:
    """Each source's GRIDHUB_<SOURCE>__FIELD section, known before anything starts."""
    from simulators.civil_affairs import CivilAffairsSimulator
    from simulators.hotline.feed import REPLY_TOPIC, TOPIC
    from simulators.hukou.control import DEFAULT_PASSWORD, DEFAULT_USERNAME

    p = config.ports
    odbc = CivilAffairsSimulator.sqlite(config.paths.civil_affairs).connection_string
    return {
        "HUKOU__WSDL_URL": f"http://127.0.0.1:{p['hukou']}{HUKOU_PATH}?wsdl",
        "HUKOU__USERNAME": DEFAULT_USERNAME,
        "HUKOU__PASSWORD": DEFAULT_PASSWORD,  # the simulator's, not a secret
        "CIVIL_AFFAIRS__CONNECTION_STRING": odbc,
        "HEALTH__BASE_URL": f"http://127.0.0.1:{p['health']}{HEALTH_PATH}",
        "HOTLINE__TOPIC": TOPIC,
        "HOTLINE__REPLY_TOPIC": REPLY_TOPIC,
    }


def generate_district(config: DemoConfig) -> District:
    """The ground truth, also written as CSV (``gridhub simulate generate``'s files)."""
    from simulators.district import District, write_district

    district = District(config.persons, config.seed)
    write_district(district, config.paths.district)
    return district


def start_sources(config: DemoConfig, district: District, sup: Supervisor, step: Step) -> Sources:
    """Start every source; returns once each one serves (or raises, naming the one that
    did not). ``step`` is told what is starting, for the progress display."""
    paths = config.paths
    sources = Sources()
    step("device gateways (OPC UA, MQTT)")  # the slowest to start: first, in the background
    _spawn_devices(config, sup)
    step("Kafka broker (Tansu)")
    _start_broker(config, sup)
    step("12345 hotline producer")
    producer = _start_producer(config, sup)
    step("户籍 SOAP service")
    _start_hukou(config, district, sup, sources)
    step("health FHIR server")
    _start_health(config, district, sup, sources)
    step("民政 database (ODBC)")
    _build_civil_affairs(config, district, sources)
    step("utility file drops")
    _drop_utility_files(config, district, sources)
    step("waiting for the first hotline orders")
    sources.truth["hotline"] = _wait_for_orders(producer, sup, config.initial_orders)
    sources.offered["hotline"] = config.initial_orders
    step("waiting for the device gateways")
    sources.devices = _wait_for_devices(config, sup)
    paths.truth.write_text(json.dumps(sources.truth, ensure_ascii=False))
    return sources


def _start_broker(config: DemoConfig, sup: Supervisor) -> None:
    from simulators.hotline.feed import PARTITIONS, REPLY_TOPIC, TOPIC
    from simulators.kafka_broker import KafkaBroker

    broker = KafkaBroker(config.paths.broker, port=config.ports["kafka"], startup_timeout=60)
    sup.on_stop("kafka", broker.stop)
    broker.start()
    for topic in (TOPIC, REPLY_TOPIC):
        broker.create_topic(topic, PARTITIONS)


def _start_producer(config: DemoConfig, sup: Supervisor) -> Path:
    out = config.paths.root / "hotline-orders.jsonl"
    out.unlink(missing_ok=True)
    argv = [
        sys.executable, "-m", "gridhub.demo.producer",
        "--persons", str(config.persons), "--seed", str(config.seed),
        "--bootstrap", config.bootstrap, "--count", str(config.initial_orders),
        "--every", str(config.hotline_every), "--out", str(out),
    ]  # fmt: skip
    sup.spawn("hotline-producer", argv, env=config.env(), cwd=REPO_ROOT)
    return out


def _wait_for_orders(out: Path, sup: Supervisor, count: int) -> dict[str, str]:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        sup.check()
        if out.exists():
            lines = out.read_text(encoding="utf-8").splitlines()
            if len(lines) >= count:
                rows = [json.loads(line) for line in lines]
                return {r["order_no"]: r["person_key"] for r in rows}
        time.sleep(0.2)
    raise ChildFailed(f"the hotline producer did not publish {count} orders in time")


def _start_hukou(config: DemoConfig, district: District, sup: Supervisor, sources: Sources) -> None:
    from simulators.hukou import HukouSimulator
    from simulators.hukou.data import persons_of

    persons = persons_of(district)
    keys = [row.person_key for row in district.view("hukou")]
    sources.truth["hukou"] = {p.id_number.strip(): k for p, k in zip(persons, keys, strict=True)}
    sources.offered["hukou"] = len(persons)
    sim = HukouSimulator(
        [p.as_fields() for p in persons],
        seed=config.seed,
        subprocess=True,
        port=config.ports["hukou"],
        path=HUKOU_PATH,
    )
    sup.on_stop("hukou", sim.stop)
    sim.start()
    if sim.pid:
        sources.pids["hukou"] = sim.pid


def _start_health(
    config: DemoConfig, district: District, sup: Supervisor, sources: Sources
) -> None:
    from simulators.health import HealthSimulator
    from simulators.health.data import district_health

    data = district_health(10**9, seed=config.seed, district=district)
    sources.truth["health"] = {f"Patient/{k}": v for k, v in data.truth()["patients"].items()}
    sources.offered["health"] = len(data.resources)
    sim = HealthSimulator(
        data.resources,
        seed=config.seed,
        subprocess=True,
        port=config.ports["health"],
        path=HEALTH_PATH,
    )
    sup.on_stop("health", sim.stop)
    sim.start()
    if sim.pid:
        sources.pids["health"] = sim.pid


def _build_civil_affairs(config: DemoConfig, district: District, sources: Sources) -> None:
    from simulators.civil_affairs import CivilAffairsSimulator

    path = config.paths.civil_affairs
    path.unlink(missing_ok=True)
    report = CivilAffairsSimulator.sqlite(path, seed=config.seed).build(district, keep_truth=True)
    sources.truth["civil_affairs"] = report.truth
    sources.offered["civil_affairs"] = report.total


def _drop_utility_files(config: DemoConfig, district: District, sources: Sources) -> None:
    from simulators.utility import UtilityDrop

    root = config.paths.utility
    shutil.rmtree(root, ignore_errors=True)
    (root / "inbox").mkdir(parents=True)
    drop = UtilityDrop(root / "inbox", 10**9, seed=config.seed, district=district)
    drop.write_days(drop.as_of, UTILITY_DAYS)
    truth: dict[str, Any] = drop.truth()
    sources.truth["utility"] = {
        f"{a['kind']}:{a['account']}": a["person_key"] for a in truth["accounts"]
    }
    sources.offered["utility"] = len(truth["accounts"])  # one source record per account


def _spawn_devices(config: DemoConfig, sup: Supervisor) -> None:
    out = config.paths.devices
    shutil.rmtree(out, ignore_errors=True)
    argv = [
        sys.executable, "-m", "simulators.devices",
        "--persons", str(config.persons), "--seed", str(config.seed),
        "--gateways", str(config.gateways), "--mqtt-share", str(DEVICE_MQTT_SHARE),
        "--mqtt-port", str(config.mqtt_port), "--alarm-rate", str(config.alarm_rate),
        "--limit", str(DEVICE_LIMIT), "--out", str(out),
    ]  # fmt: skip
    sup.spawn("devices", argv, env=config.env(), cwd=REPO_ROOT)


def _wait_for_devices(config: DemoConfig, sup: Supervisor) -> Path:
    out = config.paths.devices
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not (out / "bridge.json").exists():
        sup.check()
        if time.monotonic() > deadline:
            raise ChildFailed("the device gateways did not start in time")
        time.sleep(0.2)
    return out
