"""Each source system as the reliability tests need it: a running simulator of a few hundred
records, the hub's settings pointing at it, and the ground truth to account against.

Settings retry quickly (short back-offs, few retries) so fault tests stay fast; everything
else is the adapters' production code path.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.hotline import HotlineConfig
from canonical_model.utility import UtilityReading
from simulators.civil_affairs import TABLES, CivilAffairsSimulator
from simulators.district import District
from simulators.health import HealthSimulator
from simulators.hotline import HotlineFeed
from simulators.hukou import HukouSimulator
from simulators.kafka_broker import KafkaBroker
from simulators.utility import UtilityDrop
from tests.adapters.hotline.helpers import PARTITIONS, make_orders, publish
from tests.reliability.accounting import Key

HUKOU_PERSONS = 300
HEALTH_PATIENTS = 40
CIVIL_PERSONS = 1000  # ~150 rows over five tables, 92 of them elderly_allowance
HOTLINE_ORDERS = 300
UTILITY_HOUSEHOLDS = 40
UTILITY_DAYS = 3
FHIR_STREAMS = {"Patient": "patients", "Encounter": "encounters", "Observation": "observations"}


@dataclass
class SourceCase:
    """One source, running: what the hub is told and what the source truly holds."""

    name: str
    stream: str  # the stream synced first: the one a gate holds
    settings: dict[str, Any]
    expected: Callable[[], set[Key]]
    sim: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    checkpoint_every: int = 25


def hukou_settings(sim: HukouSimulator, **overrides: Any) -> dict[str, Any]:
    return {
        "wsdl_url": sim.wsdl_url,
        "username": sim.username,
        "password": sim.password,
        "page_size": 50,
        "timeout_s": 2,
        "max_retries": 3,
        "backoff_s": 0.01,
        "max_backoff_s": 0.05,
        **overrides,
    }


def health_settings(sim: HealthSimulator, **overrides: Any) -> dict[str, Any]:
    return {
        "base_url": sim.base_url,
        "page_size": 20,
        "timeout_s": 2,
        "max_retries": 2,
        "backoff_s": 0.01,
        "max_backoff_s": 0.05,
        "lookback_s": 0,
        **overrides,
    }


def civil_settings(sim: CivilAffairsSimulator, **overrides: Any) -> dict[str, Any]:
    return {
        "connection_string": sim.connection_string,
        "page_size": 50,
        "lock_timeout_ms": 200,
        "backoff_s": 0.05,
        "max_backoff_s": 0.2,
        "max_retries": 3,
        "connect_timeout_s": 2,
        **overrides,
    }


@contextmanager
def hukou_case() -> Iterator[SourceCase]:
    with HukouSimulator(HUKOU_PERSONS, seed=11) as sim:
        yield SourceCase(
            "hukou",
            "persons",
            hukou_settings(sim),
            lambda: {("persons", p["idNumber"].strip()) for p in sim.snapshot()},
            sim,
        )


@contextmanager
def health_case() -> Iterator[SourceCase]:
    with HealthSimulator(HEALTH_PATIENTS, seed=21, invalid=2) as sim:
        yield SourceCase(
            "health",
            "patients",
            health_settings(sim),
            lambda: {(FHIR_STREAMS[r["type"]], f"{r['type']}/{r['id']}") for r in sim.snapshot()},
            sim,
            checkpoint_every=10,
        )


@contextmanager
def civil_affairs_case(folder: Path) -> Iterator[SourceCase]:
    sim = CivilAffairsSimulator.sqlite(folder / "civil_affairs.db", seed=11)
    sim.build(District(persons=CIVIL_PERSONS, seed=11))

    def expected() -> set[Key]:
        return {(t, str(r["case_no"])) for t in TABLES for r in sim.rows(t)}

    # The largest table is the one held; the others are too small for three checkpoints.
    yield SourceCase(
        "civil_affairs",
        "elderly_allowance",
        civil_settings(sim),
        expected,
        sim,
        checkpoint_every=10,
    )


@contextmanager
def hotline_case(broker: KafkaBroker, *, trickle: bool = False) -> Iterator[SourceCase]:
    """300 orders on a fresh topic; ``trickle`` publishes them in flushes of 25 and has the
    hub fetch one small batch per request, so most of the topic is still on the broker
    while the first checkpoints commit."""
    suffix = uuid.uuid4().hex[:10]
    topic, reply_topic = f"hotline.workorders.{suffix}", f"hotline.replies.{suffix}"
    broker.create_topic(topic, PARTITIONS)
    broker.create_topic(reply_topic, PARTITIONS)
    settings = {
        "bootstrap_servers": broker.bootstrap_servers,
        "topic": topic,
        "reply_topic": reply_topic,
        "poll_timeout_ms": 200,
        "max_poll_records": 50,
        "connect_timeout_s": 5,
        "unavailable_after_s": 20,
    }
    orders = make_orders(HOTLINE_ORDERS)
    if trickle:
        settings["max_partition_fetch_bytes"] = 1
        with HotlineFeed(broker.bootstrap_servers, topic) as feed:
            for start in range(0, len(orders), 25):
                feed.publish(orders[start : start + 25])
                feed.flush()
    else:
        publish(HotlineConfig(**settings), orders)
    keys = {("work_orders", o.order_no) for o in orders}
    yield SourceCase("hotline", "work_orders", settings, lambda: set(keys), broker)


@contextmanager
def utility_case(folder: Path, *, archive: Path | None = None) -> Iterator[SourceCase]:
    inbox = folder / "inbox"
    inbox.mkdir(parents=True)
    drop = UtilityDrop(inbox, UTILITY_HOUSEHOLDS, seed=17)
    days = [drop.as_of - timedelta(days=n) for n in range(UTILITY_DAYS - 1, -1, -1)]
    files = drop.write_days(drop.as_of, UTILITY_DAYS)
    accounts = drop.district.accounts
    settings = {
        "inbox": inbox,
        "archive": archive or folder / "archive",
        "rejected": folder / "rejected",
        "rows_per_checkpoint": 100,
        "manifest_grace_s": 0,
    }
    readings = {(a.kind, a.account, d) for a in accounts for d in days}
    yield SourceCase(
        "utility",
        "accounts",
        settings,
        lambda: {("accounts", f"{a.kind}:{a.account}") for a in accounts},
        drop,
        {"readings": readings, "files": files},
    )


def stored_readings(sessions: sessionmaker[Session]) -> list[tuple[str, str, date]]:
    with sessions() as s:
        rows = s.execute(
            select(UtilityReading.kind, UtilityReading.account, UtilityReading.reading_date)
        ).all()
    return [(k, a, d) for k, a, d in rows]


@contextmanager
def source_case(name: str, folder: Path, broker: Callable[[], KafkaBroker]) -> Iterator[SourceCase]:
    """The named source, running until the block ends."""
    with ExitStack() as stack:
        if name == "hukou":
            case = stack.enter_context(hukou_case())
        elif name == "health":
            case = stack.enter_context(health_case())
        elif name == "civil_affairs":
            case = stack.enter_context(civil_affairs_case(folder))
        elif name == "hotline":
            case = stack.enter_context(hotline_case(broker()))
        elif name == "utility":
            case = stack.enter_context(utility_case(folder))
        else:
            raise KeyError(name)
        yield case
