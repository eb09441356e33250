"""The direct ``GET /api/v1/persons/{uid}`` answers exactly as the FastAPI route does.

Any query string sends the request through FastAPI (``?reveal=false`` means the same as
none), so each case is asked both ways and the answers compared, problems included.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

import audit
from tests.api.district import Seeded, Tokens, bearer, purpose

ABSENT = "0" * 26


def _both(client: TestClient, path: str, headers: dict[str, str]) -> tuple[Any, Any]:
    fast = client.get(path, headers=headers)
    slow = client.get(f"{path}?reveal=false", headers=headers)
    return fast, slow


def _same_problem(fast: Any, slow: Any) -> None:
    assert fast.status_code == slow.status_code
    assert (
        fast.headers["content-type"] == slow.headers["content-type"] == "application/problem+json"
    )
    a, b = fast.json(), slow.json()
    assert a.pop("instance") == f"urn:uuid:{fast.headers['x-request-id']}"
    assert b.pop("instance") == f"urn:uuid:{slow.headers['x-request-id']}"
    assert a == b
    assert fast.headers.get("www-authenticate") == slow.headers.get("www-authenticate")


def test_the_record_is_identical_and_both_reads_are_logged(
    client: TestClient, tokens: Tokens, seeded: Seeded, sessions: sessionmaker[Session], hub: Any
) -> None:
    fast, slow = _both(client, f"/api/v1/persons/{seeded.p1}", bearer(tokens.w1))
    assert fast.status_code == slow.status_code == 200
    assert fast.json() == slow.json()
    assert fast.json()["masked"] is True
    assert fast.headers["cache-control"] == "no-store"
    hub.flush_reads()
    with sessions() as s:
        seen = [e for e in audit.who_accessed(s, seeded.p1) if e.operation == "person.get"]
    ids = {e.correlation_id for e in seen}
    assert {fast.headers["x-request-id"], slow.headers["x-request-id"]} <= ids


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("outside-grid", 403),
        ("absent", 404),
        ("no-token", 401),
        ("bad-token", 401),
        ("unknown-purpose", 422),
        ("purpose-not-granted", 403),
    ],
)
def test_refusals_are_the_same_problems(
    client: TestClient, tokens: Tokens, seeded: Seeded, case: str, expected: int
) -> None:
    uid = {"outside-grid": seeded.p3, "absent": ABSENT}.get(case, seeded.p1)
    headers = {
        "no-token": {},
        "bad-token": bearer(tokens.w1[:-6] + "AAAAAA"),
        "unknown-purpose": purpose(tokens.w1, "curiosity"),
        "purpose-not-granted": purpose(tokens.w1, "audit"),
    }.get(case, bearer(tokens.w1))
    fast, slow = _both(client, f"/api/v1/persons/{uid}", headers)
    assert fast.status_code == expected, fast.text
    _same_problem(fast, slow)


def test_a_declared_purpose_reads_masked_and_is_logged_with_it(
    client: TestClient, tokens: Tokens, seeded: Seeded, sessions: sessionmaker[Session], hub: Any
) -> None:
    fast, slow = _both(client, f"/api/v1/persons/{seeded.p1}", purpose(tokens.w1, "welfare_visit"))
    assert fast.status_code == 200
    assert fast.json() == slow.json()
    hub.flush_reads()
    with sessions() as s:
        entry = next(
            e
            for e in audit.who_accessed(s, seeded.p1)
            if e.correlation_id == fast.headers["x-request-id"]
        )
    assert entry.purpose == "welfare_visit"


def test_anything_unusual_goes_through_the_framework(
    client: TestClient, tokens: Tokens, seeded: Seeded
) -> None:
    too_long = client.get(f"/api/v1/persons/{seeded.p1}", headers=purpose(tokens.w1, "x" * 49))
    assert too_long.status_code == 422  # the route's own header validation
    assert too_long.json()["code"] == "validation_error"
    lower = client.get(f"/api/v1/persons/{seeded.p1.lower()}", headers=bearer(tokens.w1))
    assert lower.status_code == 422
