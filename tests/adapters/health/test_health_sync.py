"""Syncing the FHIR simulator on SQLite and PostgreSQL: every valid resource once, invalid
ones quarantined, the watermark moved only by a complete search, nothing lost or doubled by
errors, paging loops or kill -9."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.contract import SourceUnavailable
from adapters.engine import load_cursor, sync_adapter
from adapters.health import create_adapter
from adapters.health.client import FhirError, PagingError
from canonical_model import ExchangeLogEntry, Quarantine, SourceRecord
from simulators.health import HealthSimulator
from tests.adapters.health.conftest import INVALID, config, quarantined, served, stored, sync

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
STREAMS = {"patients": "Patient", "encounters": "Encounter", "observations": "Observation"}


def test_a_sync_stores_every_valid_resource_once(
    fhir: HealthSimulator, sessions: sessionmaker[Session]
) -> None:
    reports = sync_adapter(create_adapter(config(fhir)), sessions, checkpoint_every=25)
    assert [r.stream for r in reports] == list(STREAMS)  # patients before their events
    for report in reports:
        total = served(fhir, STREAMS[report.stream])
        assert report.received == total
        assert (report.inserted, report.quarantined) == (total - 1, 1)
        assert stored(sessions, report.stream) == total - 1
        assert report.error is None
    with sessions() as s:
        rows = s.scalars(select(Quarantine).order_by(Quarantine.source_key)).all()
        assert sorted(str(q.source_key) for q in rows) == sorted(fhir.truth()["invalid"])
        assert {q.reason_code for q in rows} == {"fhir.invalid"}
        logged = sum(e.record_count for e in s.scalars(select(ExchangeLogEntry)))
    assert logged == sum(r.received for r in reports)
    assert len(rows) == INVALID


def test_the_watermark_is_the_snapshot_and_a_rerun_reads_only_changes(
    fhir: HealthSimulator, sessions: sessionmaker[Session]
) -> None:
    first = sync(fhir, "patients", sessions)
    cursor = load_cursor(sessions, "health", "patients")
    newest = max(r["lastUpdated"] for r in fhir.snapshot() if r["type"] == "Patient")
    assert cursor == first.cursor
    assert cursor["last_updated"] > newest
    again = sync(fhir, "patients", sessions)
    assert (again.received, again.inserted, again.updated) == (0, 0, 0)
    touched = fhir.touch("Patient", 4)
    changed = sync(fhir, "patients", sessions)
    assert (changed.received, changed.updated) == (len(touched), len(touched))
    with sessions() as s:
        versions = s.scalars(
            select(SourceRecord.version).where(
                SourceRecord.source_key.in_([f"Patient/{i}" for i in touched])
            )
        ).all()
    assert versions == [2] * len(touched)


def test_discharged_elders_living_alone_and_abnormal_vitals_reach_facts(
    fhir: HealthSimulator, sessions: sessionmaker[Session]
) -> None:
    sync_adapter(create_adapter(config(fhir)), sessions, checkpoint_every=100)
    truth = fhir.truth()
    with sessions() as s:
        facts = {
            key: canonical["facts"]
            for key, canonical in s.execute(
                select(SourceRecord.source_key, SourceRecord.canonical).where(
                    SourceRecord.stream.in_(["encounters", "observations"])
                )
            )
        }
    for eid in truth["discharges_alone"]:
        encounter = facts[f"Encounter/{eid}"]["encounter"]
        assert encounter["event"] == "hospital_discharge"
        assert encounter["discharged_on"]
    flagged = {
        k.split("/")[1] for k, f in facts.items() if f.get("observation", {}).get("out_of_range")
    }
    assert flagged == set(truth["out_of_range"])


def test_transient_errors_and_slow_pages_are_retried(
    fhir: HealthSimulator, sessions: sessionmaker[Session]
) -> None:
    fhir.inject("operation_outcome", resource="Patient", page=2, status=503, times=2)
    fhir.inject("delay", resource="Patient", page=3, delay_s=1.5)
    report = sync(fhir, "patients", sessions, timeout_s=0.5)
    assert report.error is None
    assert report.received == served(fhir, "Patient")
    assert fhir.stats()["faults"] == 3


def test_a_refusal_stops_the_sync_without_a_cursor(
    fhir: HealthSimulator, sessions: sessionmaker[Session]
) -> None:
    fhir.inject("operation_outcome", resource="Patient", page=1, status=400)
    with pytest.raises(FhirError) as caught:
        sync(fhir, "patients", sessions)
    assert caught.value.status == 400
    assert "error/invalid" in str(caught.value)
    assert fhir.stats()["faults"] == 1  # a 4xx is not retried
    assert load_cursor(sessions, "health", "patients") == {}


def test_an_error_mid_paging_keeps_the_records_but_not_the_watermark(
    fhir: HealthSimulator, sessions: sessionmaker[Session]
) -> None:
    fhir.inject("http_error", resource="Patient", page=3, status=502, times=3)
    with pytest.raises(SourceUnavailable) as caught:
        sync(fhir, "patients", sessions, checkpoint_every=1000)
    assert "502" in str(caught.value)
    assert "page 3" in str(caught.value)
    before = stored(sessions, "patients")
    assert before + quarantined(sessions) == 40  # pages 1-2, committed with the old cursor
    assert load_cursor(sessions, "health", "patients") == {}
    resumed = sync(fhir, "patients", sessions)
    total = served(fhir, "Patient")
    assert (resumed.received, resumed.unchanged) == (total, before)
    assert stored(sessions, "patients") == total - 1
    assert resumed.cursor["last_updated"]


def test_a_paging_loop_is_a_clear_error_and_no_partial_cursor(
    fhir: HealthSimulator, sessions: sessionmaker[Session]
) -> None:
    sync(fhir, "observations", sessions)
    before = load_cursor(sessions, "health", "observations")
    fhir.touch("Observation", 30)
    fhir.inject("paging_loop", resource="Observation", page=1)
    with pytest.raises(PagingError, match="paging loop"):
        sync(fhir, "observations", sessions)
    assert load_cursor(sessions, "health", "observations") == before
    again = sync(fhir, "observations", sessions)
    # The looping run stored its first page (with the old cursor); the re-run finds it
    # unchanged and the rest changed.
    assert (again.received, again.unchanged, again.updated) == (30, 20, 10)


def test_a_next_link_to_another_host_is_refused(
    fhir: HealthSimulator, sessions: sessionmaker[Session]
) -> None:
    foreign = config(fhir, base_url=fhir.base_url.replace("127.0.0.1", "localhost"))
    adapter = create_adapter(foreign)
    with pytest.raises(PagingError, match="leaves the FHIR server"):
        sync_adapter(adapter, sessions, streams=["patients"])


CHILD = """
import os, signal, sys
from adapters.engine import sync_stream
from adapters.health import HealthConfig, create_adapter
from canonical_model.store import make_engine, session_factory

def die_after_first_checkpoint(report):
    os.kill(os.getpid(), signal.SIGKILL)

sessions = session_factory(make_engine(sys.argv[1]))
adapter = create_adapter(HealthConfig(base_url=sys.argv[2], page_size=20, lookback_s=0))
sync_stream(adapter, "observations", sessions, checkpoint_every=30,
            progress=die_after_first_checkpoint)
"""


def test_kill_9_mid_search_loses_and_duplicates_nothing(
    fhir: HealthSimulator, store_url: str, sessions: sessionmaker[Session]
) -> None:
    crashed = subprocess.run(
        [sys.executable, "-c", CHILD, store_url, fhir.base_url], cwd=REPO, check=False
    )
    assert crashed.returncode == -9
    before = stored(sessions, "observations")
    assert before + quarantined(sessions) == 30  # the first checkpoint, nothing after it
    assert load_cursor(sessions, "health", "observations") == {}  # still the start
    report = sync(fhir, "observations", sessions)
    total = served(fhir, "Observation")
    assert (report.received, report.unchanged) == (total, before)
    assert stored(sessions, "observations") == total - 1
    assert quarantined(sessions) == 1  # re-delivered, kept once
    with sessions() as s:
        keys = s.scalars(
            select(SourceRecord.source_key).where(SourceRecord.stream == "observations")
        ).all()
    assert len(keys) == len(set(keys))


def test_check_connection(fhir: HealthSimulator) -> None:
    adapter = create_adapter(config(fhir))
    assert adapter.check_connection() == (True, None)
    adapter.close()
    down = create_adapter(config(fhir, base_url="http://127.0.0.1:9/fhir", max_retries=0))
    ok, error = down.check_connection()
    down.close()
    assert ok is False
    assert "connection failed" in (error or "")


@pytest.mark.parametrize("workers", [1, 2], ids=["validating-worker", "mapping-workers"])
def test_workers_store_exactly_what_inline_mapping_does(
    fhir: HealthSimulator, sessions: sessionmaker[Session], tmp_path: Path, workers: int
) -> None:
    from canonical_model.store import make_engine, session_factory, upgrade

    inline_engine = make_engine(f"sqlite:///{tmp_path / 'inline.db'}")
    upgrade(inline_engine)
    inline = session_factory(inline_engine)
    sync_adapter(create_adapter(config(fhir, map_workers=0)), inline, checkpoint_every=25)
    adapter = create_adapter(config(fhir, map_workers=workers))
    adapter.mapper.min_page = 5  # type: ignore[attr-defined]  # use the worker on small pages
    reports = sync_adapter(adapter, sessions, checkpoint_every=25)
    assert sum(r.quarantined for r in reports) == INVALID
    assert adapter.mapper.pages > 0  # type: ignore[attr-defined]

    def contents(factory: sessionmaker[Session]) -> dict[str, object]:
        with factory() as s:
            rows = s.execute(select(SourceRecord.source_key, SourceRecord.canonical)).all()
            bad = s.execute(select(Quarantine.source_key, Quarantine.reason)).all()
        return {**{k: c for k, c in rows}, **{f"q:{k}": r for k, r in bad}}

    assert contents(sessions) == contents(inline)
    inline_engine.dispose()


def test_a_chinese_gender_is_quarantined_whole_then_stored_once_declared(
    fhir: HealthSimulator, sessions: sessionmaker[Session]
) -> None:
    import json

    from canonical_model import QuarantineStatus
    from simulators.health.resources import patient

    fields: dict[str, str | None] = {"name": "王芳", "gender": "女", "birth_date": "1950-02-03"}
    fhir.put(patient("PT-ZH", fields, stamp="2026-03-01T08:00:00+08:00"))
    first = sync(fhir, "patients", sessions)
    assert first.quarantined == 2  # the simulator's invalid Patient, and this one
    with sessions() as s:
        q = s.scalars(select(Quarantine).where(Quarantine.source_key == "Patient/PT-ZH")).one()
        assert q.reason_code == "fhir.gender_code"
        assert "王芳" not in q.reason
        assert json.loads(q.raw)["gender"] == "女"  # nothing lost: the resource as received
    assert stored(sessions, "patients") == served(fhir, "Patient") - 2

    # The operator declares the department's codes; the source sends the record again.
    fhir.put(patient("PT-ZH", fields, stamp="2026-03-02T08:00:00+08:00"))
    again = sync(fhir, "patients", sessions, gender_codes={"男": "male", "女": "female"})
    assert (again.inserted, again.quarantined) == (1, 0)
    with sessions() as s:
        record = s.scalars(
            select(SourceRecord).where(SourceRecord.source_key == "Patient/PT-ZH")
        ).one()
        assert record.canonical["gender"] == "F"
        assert record.canonical["facts"]["patient"]["gender_issue"] == "local_code"
        assert s.scalars(
            select(Quarantine.status).where(Quarantine.source_key == "Patient/PT-ZH")
        ).all() == [QuarantineStatus.RELEASED]
