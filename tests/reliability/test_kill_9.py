"""kill -9 the hub in the middle of each source's sync, then run it again: nothing lost,
nothing taken in twice.

``gridhub sync <source>`` runs as its own process. A gate on the store lets exactly two
checkpoints commit and holds the third at its commit — its records received, mapped and
written in an open transaction — and the hub is killed right there.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import ExchangeLogEntry, Quarantine, QuarantineStatus, SourceRecord
from simulators.kafka_broker import KafkaBroker
from tests.reliability.accounting import account
from tests.reliability.harness import (
    CheckpointGate,
    hub_env,
    kill_9,
    run_sync,
    start_sync,
    sync_state,
)
from tests.reliability.sources import source_case, stored_readings

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def _logged(sessions: sessionmaker[Session], source: str, stream: str) -> int:
    with sessions() as s:
        return int(
            s.scalar(
                select(func.sum(ExchangeLogEntry.record_count)).where(
                    ExchangeLogEntry.counterpart == source,
                    ExchangeLogEntry.operation == f"sync.{stream}",
                )
            )
            or 0
        )


def _kept(sessions: sessionmaker[Session], source: str, stream: str) -> int:
    """Records of the stream in the store: stored or in open quarantine."""
    with sessions() as s:
        stored = s.scalar(
            select(func.count())
            .select_from(SourceRecord)
            .where(SourceRecord.source == source, SourceRecord.stream == stream)
        )
        held = s.scalar(
            select(func.count())
            .select_from(Quarantine)
            .where(
                Quarantine.source == source,
                Quarantine.stream == stream,
                Quarantine.status == QuarantineStatus.OPEN,
            )
        )
    return int(stored or 0) + int(held or 0)


@pytest.mark.parametrize("name", ["hukou", "civil_affairs", "hotline", "health", "utility"])
def test_kill_9_mid_sync_then_rerun_loses_and_duplicates_nothing(
    name: str,
    pg_url: str,
    pg_sessions: sessionmaker[Session],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    def broker() -> KafkaBroker:
        running: KafkaBroker = request.getfixturevalue("live_broker")
        return running

    with source_case(name, tmp_path, broker) as case:
        env = hub_env(
            pg_url,
            tmp_path / "var",
            checkpoint_every=case.checkpoint_every,
            **{name: case.settings},
        )
        gate = CheckpointGate(pg_url, name, case.stream)
        gate.close_gate(pg_sessions)
        hub = start_sync(name, env, tmp_path / "hub.log")
        try:
            gate.let_one_through(hub)
            gate.let_one_through(hub)  # two checkpoints committed, the third held at commit
            kill_9(hub)
        finally:
            if hub.poll() is None:
                hub.kill()
            gate.open_gate()
            print((tmp_path / "hub.log").read_text(errors="replace")[-2000:])

        # Exactly the two committed checkpoints survived: the cursor, the exchange log and
        # the records agree, and the checkpoint in flight left no trace.
        state = sync_state(pg_sessions, name, case.stream)
        assert state is not None
        seen = state.records_seen  # a FHIR search moves its cursor only at the end
        assert seen > 0, "two checkpoints should have committed"
        assert _logged(pg_sessions, name, case.stream) == seen
        assert 0 < _kept(pg_sessions, name, case.stream) <= seen

        done = run_sync(name, env)
        assert done.returncode == 0, done.stderr[-2000:]
        result = account(pg_sessions, name, case.expected(), label=f"{name} kill -9")
        result.assert_balanced()
        if name == "utility":
            readings = stored_readings(pg_sessions)
            assert len(readings) == len(set(readings))  # no reading twice
            assert set(readings) == case.extra["readings"]  # none lost
            print(f"accounting [utility readings]: expected {len(case.extra['readings'])}, "
                  f"stored {len(readings)}, lost 0, duplicated 0")  # fmt: skip
