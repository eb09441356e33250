"""The demo's summary: pairwise scores against the truth, the store read back, the text."""

from __future__ import annotations

from typing import Any

import pytest

from canonical_model import Person, Quarantine, SourceRecord
from canonical_model.store import make_engine, session_factory, transaction
from gridhub.demo.config import DEFAULT_PORTS, DemoConfig
from gridhub.demo.summary import collect, pairwise_scores, render, truth_key


@pytest.mark.parametrize(
    ("assigned", "expected"),
    [
        pytest.param([(1, "a"), (1, "a"), (2, "b")], (1.0, 1.0, 1.0), id="perfect"),
        pytest.param([(1, "a"), (2, "a"), (3, "b")], (1.0, 0.0, 0.0), id="split"),
        pytest.param([(1, "a"), (1, "b")], (0.0, 1.0, 0.0), id="lumped"),
        pytest.param(
            [(1, "a"), (1, "a"), (1, "a"), (2, "a"), (1, "b")],
            (3 / 6, 3 / 6, 0.5),
            id="partial",
        ),
        pytest.param([(1, "a"), (2, "b")], (1.0, 1.0, 1.0), id="no-pairs"),
    ],
)
def test_pairwise_scores(
    assigned: list[tuple[int, str]], expected: tuple[float, float, float]
) -> None:
    score = pairwise_scores(assigned)
    assert (score["precision"], score["recall"], score["f1"]) == pytest.approx(expected, abs=1e-4)
    assert score["records"] == len(assigned)


@pytest.mark.parametrize(
    ("source", "stream", "key", "expected"),
    [
        pytest.param("health", "patients", "p-1", "Patient/p-1", id="health-bare"),
        pytest.param("health", "patients", "Patient/p-1", "Patient/p-1", id="health-typed"),
        pytest.param("hukou", "persons", " 330106199001011234 ", "330106199001011234", id="hukou"),
    ],
)
def test_truth_key(source: str, stream: str, key: str, expected: str) -> None:
    assert truth_key(source, stream, key) == expected


def _record(source: str, key: str, person: Person) -> SourceRecord:
    return SourceRecord(
        source=source,
        stream="persons",
        source_key=key,
        content_hash=key.ljust(64, "0")[:64],
        payload={},
        canonical={},
        batch_id="b",
        person_id=person.id,
    )


def test_collect_reads_counts_and_scores_from_the_store(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with transaction(session_factory(engine)) as s:
        alice, bob = Person(), Person()
        s.add_all([alice, bob])
        s.flush()
        s.add_all(
            [
                _record("hukou", "A1", alice),
                _record("civil_affairs", "CA1", alice),
                _record("hukou", "B1", bob),
                _record("civil_affairs", "CB1", alice),  # wrongly joined to alice
            ]
        )
        s.add(
            Quarantine(source="hukou", stream="persons", raw=b"x", reason_code="r", reason="r",
                       batch_id="b")
        )  # fmt: skip
    engine.dispose()
    truth = {"hukou": {"A1": "P1", "B1": "P2"}, "civil_affairs": {"CA1": "P1", "CB1": "P2"}}
    summary: dict[str, Any] = collect(sqlite_url, truth)
    assert summary["sources"] == {
        "civil_affairs": {"synced": 2, "quarantined": 0},
        "hukou": {"synced": 2, "quarantined": 1},
    }
    assert summary["persons"] == 2
    assert summary["records_linked"] == 4
    assert summary["merged_records"] == 2
    score = summary["resolution_vs_truth"]
    # predicted pairs: alice's three records → 3; true pairs: (A1, CA1), (B1, CB1) → 2;
    # right: (A1, CA1) → 1
    assert (score["predicted_pairs"], score["true_pairs"]) == (3, 2)
    assert score["precision"] == pytest.approx(1 / 3, abs=1e-4)
    assert score["recall"] == pytest.approx(1 / 2, abs=1e-4)
    text = render({**summary, "audit": {"ok": True, "line": "chain ok"}})
    assert "hukou" in text
    assert "verified" in text


def test_child_settings_go_through_env_not_globals(tmp_path: Any) -> None:
    import os

    before = dict(os.environ)
    config = DemoConfig(persons=100, var_dir=tmp_path, ports={**DEFAULT_PORTS, "kafka": 2})
    env = config.env({"HUKOU__WSDL_URL": "http://127.0.0.1:3/hukou?wsdl"})
    assert env["GRIDHUB_DATABASE_URL"] == f"sqlite:///{tmp_path}/demo/gridhub.db"
    assert env["GRIDHUB_HOTLINE__BOOTSTRAP_SERVERS"] == "127.0.0.1:2"
    assert env["GRIDHUB_HUKOU__WSDL_URL"] == "http://127.0.0.1:3/hukou?wsdl"
    assert str(tmp_path) in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert dict(os.environ) == before
