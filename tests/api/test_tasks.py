"""Tasks over REST: the inbox, scope, transitions through workflow, feedback with photos."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api import Hub
from canonical_model import ExchangeLogEntry
from tests.api.district import Seeded, Tokens, bearer

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0" + b"\x10JFIF" + bytes(500)


def last_entry(hub: Hub, operation: str | None = None) -> ExchangeLogEntry:
    """The newest entry (of ``operation``). Read entries are group-committed, so a read
    made before a change may be chained after it: ask for the operation meant."""
    hub.flush_reads()
    query = select(ExchangeLogEntry).order_by(ExchangeLogEntry.seq.desc())
    if operation is not None:
        query = query.where(ExchangeLogEntry.operation == operation)
    with hub.sessions() as s:
        entry = s.scalars(query).first()
        assert entry is not None
        return entry


def _uids(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    return [t["uid"] for t in r.json()["items"]]


def test_inbox_and_grid_views_respect_scope(
    client: TestClient, tokens: Tokens, seeded: Seeded
) -> None:
    assert _uids(client.get("/api/v1/tasks", headers=bearer(tokens.w1))) == [seeded.task_g1]
    assert _uids(client.get("/api/v1/tasks", headers=bearer(tokens.w4))) == [seeded.task_g2]
    grids = client.get("/api/v1/tasks", params={"view": "grids"}, headers=bearer(tokens.w1))
    assert _uids(grids) == [seeded.task_g1]
    everything = client.get("/api/v1/tasks", params={"view": "grids"}, headers=bearer(tokens.admin))
    assert sorted(_uids(everything)) == sorted([seeded.task_g1, seeded.task_g2])
    closed = client.get("/api/v1/tasks", params={"state": "closed"}, headers=bearer(tokens.w1))
    assert _uids(closed) == []


def test_a_task_outside_the_grid_is_refused(
    client: TestClient, tokens: Tokens, seeded: Seeded, sessions: sessionmaker[Session], hub: Hub
) -> None:
    r = client.get(f"/api/v1/tasks/{seeded.task_g2}", headers=bearer(tokens.w1))
    assert r.status_code == 403
    assert r.json()["code"] == "outside_scope"
    assert last_entry(hub).result == "denied"
    r = client.post(
        f"/api/v1/tasks/{seeded.task_g2}/transitions",
        json={"action": "accept"},
        headers=bearer(tokens.w1),
    )
    assert r.status_code == 403


def _act(client: TestClient, token: str, uid: str, **body: Any) -> Any:
    return client.post(f"/api/v1/tasks/{uid}/transitions", json=body, headers=bearer(token))


def test_transitions_go_through_workflow(
    client: TestClient, tokens: Tokens, seeded: Seeded, sessions: sessionmaker[Session], hub: Hub
) -> None:
    task = client.get(f"/api/v1/tasks/{seeded.task_g1}", headers=bearer(tokens.w1)).json()
    assert task["allowed_actions"] == ["accept", "reject", "reassign", "assign", "escalate"]
    illegal = _act(client, tokens.w1, seeded.task_g1, action="start")
    assert illegal.status_code == 409
    assert illegal.json()["code"] == "illegal_transition"
    stale = _act(client, tokens.w1, seeded.task_g1, action="accept", expected_version=99)
    assert stale.status_code == 409
    assert stale.json()["code"] == "conflict"
    other = tokens.make("grid_worker", "W2", ("330106001001001",))
    assert _act(client, other, seeded.task_g1, action="accept").status_code == 403
    accepted = _act(
        client, tokens.w1, seeded.task_g1, action="accept", expected_version=task["version"]
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "accepted"
    assert accepted.json()["version"] == task["version"] + 1
    entry = last_entry(hub, "task.accept")
    assert (entry.operation, entry.direction, entry.actor_subject) == (
        "task.accept",
        "inbound",
        "W1",
    )
    assert entry.object_refs == {"tasks": [seeded.task_g1], "persons": [seeded.p1]}


def test_a_worker_may_not_reassign_but_an_admin_may(
    client: TestClient, tokens: Tokens, seeded: Seeded
) -> None:
    r = _act(client, tokens.w1, seeded.task_g1, action="reassign", reassign_to="W2")
    assert r.status_code == 403
    r = _act(client, tokens.admin, seeded.task_g1, action="reassign", reassign_to="W2")
    assert r.status_code == 200
    assert r.json()["assignee"] == "W2"
    missing = _act(client, tokens.admin, seeded.task_g1, action="escalate")
    assert missing.status_code == 422


def _feedback(
    client: TestClient, token: str, uid: str, files: list[tuple[str, tuple[str, bytes, str]]]
) -> Any:
    return client.post(
        f"/api/v1/tasks/{uid}/feedback",
        data={"result": "resolved", "notes": "已上门", "latitude": "30.27", "longitude": "120.13"},
        files=files,
        headers=bearer(token),
    )


def test_feedback_with_photos_completes_and_stores_them_by_hash(
    client: TestClient, tokens: Tokens, seeded: Seeded, hub: Hub
) -> None:
    assert _act(client, tokens.w1, seeded.task_g1, action="accept").status_code == 200
    assert _act(client, tokens.w1, seeded.task_g1, action="start").status_code == 200
    r = _feedback(
        client,
        tokens.w1,
        seeded.task_g1,
        [("photos", ("a.png", PNG, "image/png")), ("photos", ("b.jpg", JPEG, "image/jpeg"))],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "completed"
    digests = [hashlib.sha256(PNG).hexdigest(), hashlib.sha256(JPEG).hexdigest()]
    assert body["photos"] == digests
    assert hub.photos.get(digests[0]) == PNG
    photo = client.get(
        f"/api/v1/tasks/{seeded.task_g1}/photos/{digests[1]}", headers=bearer(tokens.w1)
    )
    assert photo.status_code == 200
    assert photo.content == JPEG
    assert photo.headers["content-type"] == "image/jpeg"
    elsewhere = client.get(
        f"/api/v1/tasks/{seeded.task_g1}/photos/{digests[1]}", headers=bearer(tokens.w4)
    )
    assert elsewhere.status_code == 403
    # the requesting platform confirms and rates; a platform that did not request it may not
    assert _act(client, tokens.scoped_platform, seeded.task_g1, action="close").status_code == 403
    closed = _act(client, tokens.hotline, seeded.task_g1, action="close", rating=5)
    assert closed.status_code == 200
    assert closed.json()["state"] == "closed"
    assert closed.json()["rating"] == 5


@pytest.mark.parametrize(
    ("files", "status"),
    [
        pytest.param(
            [("photos", ("x.png", b"not an image at all", "image/png"))], 415, id="spoofed"
        ),
        pytest.param([("photos", ("x.gif", b"GIF89a" + bytes(50), "image/gif"))], 415, id="gif"),
        pytest.param([("photos", ("x.png", PNG, "image/jpeg"))], 415, id="mislabelled"),
        pytest.param([("photos", ("x.png", PNG + bytes(70_000), "image/png"))], 413, id="too-big"),
        pytest.param([("photos", ("x.png", PNG, "image/png"))] * 3, 413, id="too-many"),
    ],
)
def test_bad_photos_are_refused(
    client: TestClient, tokens: Tokens, seeded: Seeded, files: Any, status: int
) -> None:
    assert _act(client, tokens.w1, seeded.task_g1, action="accept").status_code == 200
    assert _act(client, tokens.w1, seeded.task_g1, action="start").status_code == 200
    r = _feedback(client, tokens.w1, seeded.task_g1, files)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    task = client.get(f"/api/v1/tasks/{seeded.task_g1}", headers=bearer(tokens.w1)).json()
    assert task["state"] == "in_progress"
