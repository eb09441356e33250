"""Shared by the hotline tests: a broker with fresh topics per test, and store queries."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.engine import load_cursor
from adapters.hotline import HotlineConfig
from canonical_model import ExchangeLogEntry, Quarantine, SourceRecord
from simulators.district import District
from simulators.hotline import HotlineFeed, OrderGenerator, WorkOrder
from simulators.hotline.orders import CHINA
from simulators.kafka_broker import KafkaBroker

PARTITIONS = 4


def fresh_config(broker: KafkaBroker, **overrides: Any) -> HotlineConfig:
    """New order and reply topics, so tests sharing the broker never see each other's data."""
    suffix = uuid.uuid4().hex[:10]
    topic, reply_topic = f"hotline.workorders.{suffix}", f"hotline.replies.{suffix}"
    broker.create_topic(topic, PARTITIONS)
    broker.create_topic(reply_topic, PARTITIONS)
    options: dict[str, Any] = {
        "bootstrap_servers": broker.bootstrap_servers,
        "topic": topic,
        "reply_topic": reply_topic,
        "poll_timeout_ms": 200,
        "connect_timeout_s": 5,
        "unavailable_after_s": 20,
        "reply_timeout_s": 5,
    }
    return HotlineConfig(**(options | overrides))


def make_orders(n: int, seed: int = 5, *, day: int = 0) -> list[WorkOrder]:
    """``n`` orders; another ``day`` gives other order numbers (they are numbered per day)."""
    start = datetime(2024, 10, 1, 8, tzinfo=CHINA) + timedelta(days=day)
    return (
        list(_generator(seed).orders(n))
        if day == 0
        else list(OrderGenerator(_district(), seed=seed, start=start).orders(n))
    )


@lru_cache(maxsize=1)
def _district() -> District:
    return District(persons=20_000, seed=5)


def _generator(seed: int) -> OrderGenerator:
    return OrderGenerator(_district(), seed=seed)


def publish(config: HotlineConfig, orders: Iterable[WorkOrder] = (), **poison: str) -> None:
    """Publish orders, then each poison message named ``key=kind``."""
    with HotlineFeed(config.bootstrap_servers, config.topic) as feed:
        feed.publish(orders)
        for key, kind in poison.items():
            feed.publish_poison(kind, key=key)


def stored_keys(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as s:
        return list(
            s.scalars(select(SourceRecord.source_key).where(SourceRecord.source == "hotline"))
        )


def quarantined(sessions: sessionmaker[Session]) -> list[Quarantine]:
    with sessions() as s:
        return list(s.scalars(select(Quarantine).order_by(Quarantine.id)))


def logged_records(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.sum(ExchangeLogEntry.record_count))) or 0)


def offsets(sessions: sessionmaker[Session]) -> dict[str, int]:
    return {k: int(v) for k, v in load_cursor(sessions, "hotline", "work_orders").items()}
