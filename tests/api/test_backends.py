"""The key flows on both stores: SQLite (embedded default) and PostgreSQL (district scale).

PostgreSQL is where the things that differ live: range scans under its collation, JSONB
containment in ``who_accessed``, the advisory lock of the log, the asynchronous commit of
read entries, a denial logged while the request's transaction rolls back.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

import audit
from api import ApiConfig, Hub
from api.policy import REST, Access
from audit.signing import KeySet
from identity import Principal, Role
from tests.api.district import G1, P1_ID, Seeded, Tokens, bearer
from tests.api.fixtures import store_url_each_backend

store_url = store_url_each_backend  # both backends (tests/api/fixtures.py)


def _search(client: TestClient, token: str, q: str) -> list[str]:
    r = client.get("/api/v1/persons", params={"q": q}, headers=bearer(token))
    assert r.status_code == 200, r.text
    return [p["uid"] for p in r.json()["items"]]


def test_reads_searches_denials_and_changes_are_logged(
    client: TestClient, tokens: Tokens, seeded: Seeded, sessions: sessionmaker[Session]
) -> None:
    assert client.get(f"/api/v1/persons/{seeded.p1}", headers=bearer(tokens.w1)).status_code == 200
    assert client.get(f"/api/v1/persons/{seeded.p3}", headers=bearer(tokens.w1)).status_code == 403
    for q in ("张", "zhang w", P1_ID, "13812345678", "文三路"):
        assert seeded.p1 in _search(client, tokens.w1, q), q
    assert _search(client, tokens.w1, "王芳") == []
    accepted = client.post(
        f"/api/v1/tasks/{seeded.task_g1}/transitions",
        json={"action": "accept"},
        headers=bearer(tokens.w1),
    )
    assert accepted.status_code == 200, accepted.text
    with sessions() as s:
        p1 = audit.who_accessed(s, seeded.p1)
        p3 = audit.who_accessed(s, seeded.p3)
        report = audit.verify_store(s, KeySet({}))
    assert [a.operation for a in p1] == ["person.get", *["person.search"] * 5, "task.accept"]
    assert [(a.actor_subject, a.result) for a in p3] == [("W1", "denied")]
    assert report.ok, report.findings


def test_concurrent_reads_keep_one_unbroken_chain(
    client: TestClient, tokens: Tokens, seeded: Seeded, sessions: sessionmaker[Session], hub: Hub
) -> None:
    def read(i: int) -> int:
        uid = seeded.p1 if i % 2 else seeded.p2
        return int(client.get(f"/api/v1/persons/{uid}", headers=bearer(tokens.w1)).status_code)

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert set(pool.map(read, range(24))) == {200}
    hub.flush_reads()  # read entries are group-committed: every one must land
    with sessions() as s:
        report = audit.verify_store(s, KeySet({}))
    assert report.ok
    assert report.entries == 24


@pytest.mark.parametrize(
    "store_url",
    [pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration)],
    indirect=True,
)
def test_reads_commit_asynchronously_and_writes_durably(settings: Any, store_url: str) -> None:
    """On PostgreSQL the API's connections default to asynchronous commit; every write path
    (the policy's changes and denials, the ingest engine's sessions) turns it back on.
    (synchronous_commit is a PostgreSQL setting: the test runs there only.)"""
    assert store_url.startswith("postgresql")
    hub = Hub.from_settings(settings, ApiConfig())
    show = text("SHOW synchronous_commit")
    with hub.sessions() as s:
        assert s.scalar(show) == "off"
    with hub.durable_sessions() as s, s.begin():
        assert s.scalar(show) == "on"
    access = Access(Principal("W1", Role.GRID_WORKER, frozenset({G1})), REST, "c")
    with hub.transaction() as s:
        hub.policy.record_change(s, access, operation="test", refs={})
        assert s.scalar(show) == "on"
    durable_hub = Hub.from_settings(settings, ApiConfig(durable_read_logs=True))
    with durable_hub.sessions() as s:
        assert s.scalar(show) == "on"
