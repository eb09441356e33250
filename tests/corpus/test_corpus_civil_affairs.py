"""Injection strings and oversized fields through the 民政 ODBC path, both ways.

Rows holding SQL-injection strings (in the case number that becomes the key and the cursor,
in the name, the address) are planted in the civil-affairs database and synced over ODBC:
they arrive as text, are stored verbatim, and the source's tables are untouched. A visit
record carrying the same strings is written back through pyodbc parameters. Oversized
fields (a 10 MB name, a 1 MB address) are refused by the value types, so the row is placed
by its other fields or quarantined — never stored with the giant value as canonical data.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.civil_affairs import CivilAffairsConfig, create_adapter
from adapters.civil_affairs.writeback import CivilAffairsWriteback
from adapters.engine import sync_adapter
from canonical_model import Quarantine, SourceRecord
from canonical_model.store import make_engine, session_factory, upgrade
from simulators.civil_affairs import TABLES, CivilAffairsSimulator
from simulators.district import District
from tests.corpus.corpus import grow, of_kind, valid_id

pytestmark = pytest.mark.integration
INJECTIONS = [
    line for line in of_kind("sql")[0].read().decode("utf-8").splitlines() if line.strip()
]


@pytest.fixture
def source(tmp_path: Path) -> CivilAffairsSimulator:
    sim = CivilAffairsSimulator.sqlite(tmp_path / "civil_affairs.db", seed=3)
    sim.build(District(persons=150, seed=3))
    return sim


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'gridhub.db'}")
    upgrade(engine)
    return session_factory(engine)


def _config(sim: CivilAffairsSimulator) -> CivilAffairsConfig:
    return CivilAffairsConfig(
        connection_string=sim.connection_string, backoff_s=0.05, max_backoff_s=0.2, max_retries=2
    )


def _sync(sim: CivilAffairsSimulator, sessions: sessionmaker[Session]) -> int:
    reports = sync_adapter(create_adapter(_config(sim)), sessions, streams=["dibao"])
    (report,) = reports
    assert report.error is None
    assert report.received == report.stored + report.unchanged + report.quarantined
    return report.received


def test_injection_strings_sync_as_text_and_leave_the_source_intact(
    source: CivilAffairsSimulator, sessions: sessionmaker[Session]
) -> None:
    counts = {t: source.count(t) for t in TABLES}
    planted = {}
    for i, text in enumerate(INJECTIONS):
        case_no = f"{text}#{i}"
        source.insert_row(
            "dibao", case_no=case_no, name="王芳", id_number=valid_id(seq=700 + i),
            address=f"文三路{i + 1}号{text}", status="在册", household_no=text,
        )  # fmt: skip
        planted[case_no] = text
    _sync(source, sessions)
    source.insert_row("dibao", case_no="after-injection", name="李强", id_number=valid_id(seq=799))
    _sync(source, sessions)  # the cursor now holds an injection string: it is a parameter
    with sessions() as s:
        records = {r.source_key: r for r in s.scalars(select(SourceRecord))}
    for case_no, text in planted.items():
        assert records[case_no].payload["household_no"] == text
        assert records[case_no].canonical["resident_id"] is not None
    assert "after-injection" in records
    assert {t: source.count(t) for t in TABLES} == {
        t: counts[t] + (len(planted) + 1 if t == "dibao" else 0) for t in TABLES
    }


def test_injection_strings_are_written_back_as_parameters(source: CivilAffairsSimulator) -> None:
    writeback = CivilAffairsWriteback(_config(source))
    try:
        for i, text in enumerate(INJECTIONS):
            visit = {"case_ref": text, "task_ref": f"T{i}", "status": "done", "result": text,
                     "worker": text, "visited_at": "2026-03-01T10:00:00+08:00"}  # fmt: skip
            assert writeback.deliver(visit, f"key-{i}-{text}") is True
            assert writeback.deliver(visit, f"key-{i}-{text}") is False  # idempotent
    finally:
        writeback.close()
    rows = source.db.select("visit_record", ["idempotency_key", "result"], "ORDER BY id")
    assert [r["result"] for r in rows] == INJECTIONS
    assert source.count("dibao") > 0


def test_oversized_fields_never_become_canonical_data(
    source: CivilAffairsSimulator, sessions: sessionmaker[Session]
) -> None:
    sizes = {e.params["field"]: (e, e.params["grow_to"]) for e in of_kind("oversized")}
    name_seed, name_size = sizes["name"]
    address_seed, address_size = sizes["address"]
    huge_name = grow(name_seed.read(), name_size).decode("utf-8")
    huge_address = grow(address_seed.read(), address_size).decode("utf-8")
    source.insert_row("dibao", case_no="BIG-NAME-ONLY", name=huge_name, status="在册")
    source.insert_row(
        "dibao", case_no="BIG-NAME-WITH-ID", name=huge_name, id_number=valid_id(seq=801),
        status="在册",
    )  # fmt: skip
    source.insert_row(
        "dibao", case_no="BIG-ADDRESS", name="赵敏", id_number=valid_id(seq=802),
        address=huge_address, status="在册",
    )  # fmt: skip
    source.insert_row("dibao", case_no="NEIGHBOUR", name="钱进", id_number=valid_id(seq=803))
    _sync(source, sessions)
    with sessions() as s:
        records = {r.source_key: r for r in s.scalars(select(SourceRecord))}
        quarantined = dict(s.execute(select(Quarantine.source_key, Quarantine.reason_code)).all())
    # The engine's per-record size limit quarantines each whole, before any mapping could
    # keep a truncated value; the neighbour in the same batch is stored.
    assert "NEIGHBOUR" in records
    for key in ("BIG-NAME-ONLY", "BIG-NAME-WITH-ID", "BIG-ADDRESS"):
        assert key not in records
        assert quarantined.get(key) == "schema.oversized", key
