"""Crashes and outages: a kill -9 mid-batch and a broker restart mid-consumption lose nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.contract import SyncReport
from adapters.engine import sync_stream
from adapters.hotline import HotlineConfig, create_adapter
from canonical_model import SourceRecord
from simulators.hotline import HotlineFeed
from simulators.kafka_broker import KafkaBroker
from tests.adapters.hotline.helpers import (
    logged_records,
    make_orders,
    offsets,
    publish,
    stored_keys,
)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]

# Consumes in a child process; with KILL_AT it kill -9s itself while mapping that record,
# i.e. in the middle of the second checkpoint, after the first one has committed.
CHILD = """
import os, signal, sys
from adapters.engine import sync_stream
from adapters.hotline import HotlineConfig, create_adapter
from canonical_model.store import make_engine, session_factory

kill_at = int(os.environ.get("KILL_AT", "0"))
adapter = create_adapter(HotlineConfig.model_validate_json(sys.argv[2]))
stream = adapter.stream("work_orders")
mapped = 0
original = stream.map

def map_or_die(item):
    global mapped
    mapped += 1
    if mapped == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(item)

stream.map = map_or_die
sync_stream(adapter, stream, session_factory(make_engine(sys.argv[1])), checkpoint_every=500)
"""


def run_child(store_url: str, config: HotlineConfig, kill_at: int = 0) -> int:
    env = {**os.environ, "KILL_AT": str(kill_at)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, store_url, config.model_dump_json()],
        cwd=REPO,
        env=env,
        check=False,
        timeout=120,
    )
    return done.returncode


def test_kill_9_mid_batch_then_rerun_loses_and_duplicates_nothing(
    config: HotlineConfig, store_url: str, sessions: sessionmaker[Session]
) -> None:
    orders = make_orders(1300)
    publish(config, orders)
    assert run_child(store_url, config, kill_at=750) == -9
    # Only the first checkpoint survived, and the stored offsets name exactly its end.
    assert len(stored_keys(sessions)) == 500
    assert sum(offsets(sessions).values()) == 500
    assert logged_records(sessions) == 500
    assert run_child(store_url, config) == 0
    keys = stored_keys(sessions)
    assert sorted(keys) == sorted(o.order_no for o in orders)  # none lost, none twice
    with sessions() as s:
        assert set(s.scalars(select(SourceRecord.version))) == {1}
    assert logged_records(sessions) == 1300  # the checkpoint lost in flight was never logged
    assert sum(offsets(sessions).values()) == 1300


def test_a_broker_restart_in_the_middle_of_consumption_loses_nothing(
    broker: KafkaBroker, sessions: sessionmaker[Session]
) -> None:
    from tests.adapters.hotline.helpers import fresh_config

    config = fresh_config(broker, max_poll_records=100)
    orders = make_orders(2000)
    publish(config, orders)
    restarted: list[int] = []

    def restart_once(report: SyncReport) -> None:
        if not restarted:  # after the first checkpoint: the consumer is mid-stream
            restarted.append(report.received)
            broker.restart(downtime=1.0)  # the log lives in the store, not in Tansu

    report = sync_stream(
        create_adapter(config), "work_orders", sessions, checkpoint_every=200, progress=restart_once
    )
    assert restarted == [200]
    assert (report.received, report.inserted, report.quarantined) == (2000, 2000, 0)
    assert sorted(stored_keys(sessions)) == sorted(o.order_no for o in orders)
    # The restarted broker still appends after what it had: nothing was reset or replayed.
    more = make_orders(30, day=300)
    publish(config, more)
    again = sync_stream(create_adapter(config), "work_orders", sessions)
    assert (again.received, again.inserted) == (30, 30)
    assert sum(offsets(sessions).values()) == 2030


def test_the_broker_down_for_too_long_stops_the_sync_with_what_it_had(
    broker: KafkaBroker, config: HotlineConfig, sqlite_url: str
) -> None:
    from adapters.contract import SourceUnavailable
    from canonical_model.store import make_engine, session_factory

    sessions = session_factory(make_engine(sqlite_url))
    # One small batch per fetch, so most of the topic is still on the broker when it stops.
    quick = config.model_copy(
        update={"unavailable_after_s": 2.0, "max_poll_records": 50, "max_partition_fetch_bytes": 1}
    )
    orders = make_orders(1000)
    with HotlineFeed(quick.bootstrap_servers, quick.topic) as feed:
        for start in range(0, 1000, 50):
            feed.publish(orders[start : start + 50])
            feed.flush()  # each flush leaves its own small batch per partition

    def outage(report: SyncReport) -> None:
        if broker.running:
            broker.stop_broker()

    try:
        with pytest.raises(SourceUnavailable):
            sync_stream(
                create_adapter(quick),
                "work_orders",
                sessions,
                checkpoint_every=100,
                progress=outage,
            )
    finally:
        broker.start()
    stored = len(stored_keys(sessions))
    assert 100 <= stored < 1000
    assert sum(offsets(sessions).values()) == stored
    rest = sync_stream(create_adapter(quick), "work_orders", sessions)
    assert stored + rest.received == 1000 == len(stored_keys(sessions))
