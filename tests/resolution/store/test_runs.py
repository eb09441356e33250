"""Full and incremental runs over the store: same persons either way, stable uids."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.canonical import person_fields
from bench.resolution.metrics import pairs_from_labels, score
from canonical_model import (
    Event,
    Person,
    PersonStatus,
    SourceRecord,
    SourceRecordHistory,
    utcnow,
)
from canonical_model.resolution_state import PersonMergeLog, ResolutionEntry
from canonical_model.store import make_engine, session_factory, transaction, upgrade
from resolution.store import resolve_store
from resolution.store_incremental import resolve_incremental
from tests.resolution.store.district import (
    CASE,
    T0,
    add_crafted,
    crafted,
    load_district,
    partition,
    person_of,
)
from tests.support import postgres


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    ]
)
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hub.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    template = request.getfixturevalue("pg_template")
    with postgres.temporary_database(template=template) as name:
        yield postgres.url_for(name)


def test_full_rerun_after_incremental_changes_nothing(empty_store: str) -> None:
    """70 % resolved in full, 30 % placed one by one; re-resolving everything in full
    finds the same persons under the same uids, and they are the district's people."""
    engine = make_engine(empty_store)
    factory = session_factory(engine)
    with transaction(factory) as s:
        truth = load_district(s, share=0.7, part=0)
    with transaction(factory) as s:
        first = resolve_store(s)
    with transaction(factory) as s:
        rest = load_district(s, share=0.7, part=1)
        add_crafted(s)
    summary = resolve_incremental(factory, batch_size=100)
    assert summary["mode"] == "incremental"
    assert summary["records"] == len(rest.keys) + 9
    assert summary["match"] > summary["new_person"] > 0
    with factory() as s:
        incremental = partition(s)
    with transaction(factory) as s:
        again = resolve_store(s)
    with factory() as s:
        assert partition(s) == incremental  # same records together, under the same person ids
    assert again["records_relinked"] == again["persons_created"] == again["persons_absorbed"] == 0
    assert not again["model_refitted"]
    assert first["model_refitted"]
    with factory() as s:  # and the persons are right: scored against the district's truth
        keys = truth.keys + rest.keys
        pid = dict(
            ((src, key), p)
            for src, key, p in s.execute(
                select(SourceRecord.source, SourceRecord.source_key, SourceRecord.person_id)
            )
        )
    labels = [str(pid[k]) for k in keys]
    found = pairs_from_labels([f"{a}/{b}" for a, b in keys], labels)
    true = pairs_from_labels([f"{a}/{b}" for a, b in keys], truth.person + rest.person)
    result = score(found, true)
    assert result.precision >= 0.995, result
    assert result.recall >= 0.95, result
    engine.dispose()


def test_rerun_keeps_every_uid(resolved: sessionmaker[Session]) -> None:
    with resolved() as s:
        before = dict(
            s.execute(
                select(SourceRecord.id, Person.uid).join(
                    Person, Person.id == SourceRecord.person_id
                )
            ).all()
        )
        persons = s.scalar(select(func.count()).select_from(Person))
    with transaction(resolved) as s:
        summary = resolve_store(s)
    assert summary["records_relinked"] == summary["persons_created"] == 0
    with resolved() as s:
        after = dict(
            s.execute(
                select(SourceRecord.id, Person.uid).join(
                    Person, Person.id == SourceRecord.person_id
                )
            ).all()
        )
        assert after == before
        assert s.scalar(select(func.count()).select_from(Person)) == persons


def _new_version(s: Session, key: str, **fields: object) -> None:
    """What the sync engine does when a source changes a record."""
    record = s.scalars(select(SourceRecord).where(SourceRecord.source_key == key)).one()
    s.add(
        SourceRecordHistory(
            source_record_id=record.id,
            version=record.version,
            content_hash=record.content_hash,
            payload=record.payload,
            batch_id=record.batch_id,
            received_at=record.received_at,
        )
    )
    canonical = person_fields(**fields)
    record.canonical = canonical
    record.content_hash = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()
    record.version += 1
    record.updated_at = utcnow()


def test_a_changed_record_is_reindexed_and_the_golden_record_follows(
    resolved: sessionmaker[Session],
) -> None:
    with transaction(resolved) as s:
        _new_version(
            s,
            "G-SD",
            name="欧阳建国",
            phone="13900000099",
            address="浙江省杭州市西湖区文三路478号2幢1单元301室",
        )
    summary = resolve_incremental(resolved)
    assert summary["records"] == 1
    assert summary["match"] == 1
    with resolved() as s:
        pid = person_of(s, "utility", "G-SD")
        assert pid == person_of(s, "hukou", "G-HK")
        person = s.get(Person, pid)
        assert person is not None
        assert person.phone == "13900000099"
        rid = s.scalar(select(SourceRecord.id).where(SourceRecord.source_key == "G-SD"))
        entry = s.get(ResolutionEntry, rid)
        assert entry is not None
        assert entry.version == 2
    assert resolve_incremental(resolved)["records"] == 0  # the watermark moved on


def test_a_person_whose_last_record_moves_is_absorbed(resolved: sessionmaker[Session]) -> None:
    """The clinic's stranger typing K's ID is corrected to K himself: the record joins K,
    and the person it leaves behind, now without records, is merged into K's (its event
    follows), never left as an empty person."""
    with transaction(resolved) as s:
        stranger, k = person_of(s, "health", "K-PT"), person_of(s, "hukou", "K-HK")
        assert stranger != k
        event = Event(
            type="health.discharge",
            occurred_at=T0,
            person_id=stranger,
            source="health",
            source_ref="E-K",
        )
        s.add(event)
        s.flush()
        event_id = event.id
        _new_version(
            s,
            "K-PT",
            name="诸葛明远",
            id_number=CASE.id_k,
            gender="男",
            address="浙江省杭州市西湖区学院路28号1幢1单元201室",
        )
    summary = resolve_incremental(resolved)
    assert summary["match"] == 1
    with resolved() as s:
        assert person_of(s, "health", "K-PT") == k
        left = s.get(Person, stranger)
        assert left is not None
        assert (left.status, left.merged_into_id) == (PersonStatus.MERGED, k)
        moved = s.get(Event, event_id)
        assert moved is not None
        assert moved.person_id == k
        reasons = s.scalars(
            select(PersonMergeLog.reason).where(PersonMergeLog.from_person_id == stranger)
        ).all()
        assert reasons == ["its last record moved"]


def test_records_about_a_record_follow_its_person(resolved: sessionmaker[Session]) -> None:
    """An encounter names its patient; it joins the patient's person, it is not one."""
    encounter = crafted("health", "Encounter/1", 40)
    encounter["stream"] = "encounters"
    encounter["canonical"]["facts"] = {
        "subject": {"source": "health", "stream": "patients", "source_key": "G-PT"}
    }
    encounter["updated_at"] = encounter["received_at"] + timedelta(days=1)
    with transaction(resolved) as s:
        s.execute(insert(SourceRecord), [encounter])
        persons = s.scalar(select(func.count()).select_from(Person))
    summary = resolve_incremental(resolved)
    assert summary["dependent_records_linked"] == 1
    with resolved() as s:
        assert person_of(s, "health", "Encounter/1") == person_of(s, "health", "G-PT")
        assert s.scalar(select(func.count()).select_from(Person)) == persons
    with transaction(resolved) as s:  # a full run keeps it there
        resolve_store(s)
    with resolved() as s:
        assert person_of(s, "health", "Encounter/1") == person_of(s, "hukou", "G-HK")
