"""The Kafka-protocol broker (Tansu) restarted while ``gridhub sync hotline`` is consuming.

The hub is held at a checkpoint commit with part of the topic consumed, the broker process
is stopped (or killed) and started again on the same storage, and the hub is let go: it must
ride out the outage, finish the topic and store every order once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from simulators.kafka_broker import KafkaBroker
from tests.reliability.accounting import account
from tests.reliability.harness import (
    RUN_TIMEOUT_S,
    CheckpointGate,
    hub_env,
    start_sync,
    sync_state,
)
from tests.reliability.sources import HOTLINE_ORDERS, hotline_case

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


@pytest.mark.parametrize("how", ["stop-start", "kill-9"])
def test_broker_restarted_during_consumption_loses_and_duplicates_nothing(
    how: str,
    pg_url: str,
    pg_sessions: sessionmaker[Session],
    tmp_path: Path,
    live_broker: KafkaBroker,
) -> None:
    with hotline_case(live_broker, trickle=True) as case:
        env = hub_env(pg_url, tmp_path / "var", checkpoint_every=25, hotline=case.settings)
        log = tmp_path / "hub.log"
        gate = CheckpointGate(pg_url, "hotline", "work_orders")
        gate.close_gate(pg_sessions)
        hub = start_sync("hotline", env, log)
        try:
            gate.let_one_through(hub)  # consuming: one checkpoint stored, the next held
            if how == "kill-9":
                live_broker.kill()
            else:
                live_broker.stop_broker()
            time.sleep(1.0)
            live_broker.start()
            gate.release()
            code = hub.wait(RUN_TIMEOUT_S)
        finally:
            if hub.poll() is None:
                hub.kill()
            gate.open_gate()
            print(log.read_text(errors="replace")[-1500:])
        assert code == 0
        state = sync_state(pg_sessions, "hotline", "work_orders")
        assert state is not None
        assert sum(int(v) for v in state.cursor.values()) == HOTLINE_ORDERS  # offsets at end
        account(
            pg_sessions, "hotline", case.expected(), label=f"hotline broker {how}"
        ).assert_balanced()
