"""The direct ``GET /api/v1/persons/{uid}`` and plain searches answer exactly as the FastAPI
routes do.

Any query string sends the request through FastAPI (``?reveal=false`` means the same as
none), so each case is asked both ways and the answers compared, problems included.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

import audit
from api.fast_path import search_params
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


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"q": "张"}, id="name"),
        pytest.param({"q": "文三路", "by": "address", "limit": "1"}, id="address-page"),
        pytest.param({"q": "13812345678", "by": "phone", "cursor": ""}, id="blank-cursor"),
        pytest.param({"q": "王芳"}, id="outside-grid-finds-nothing"),
        pytest.param({"q": " "}, id="blank-query-problem"),
    ],
)
def test_a_plain_search_is_answered_as_the_framework_answers_it(
    client: TestClient, tokens: Tokens, seeded: Seeded, params: dict[str, str]
) -> None:
    fast = client.get("/api/v1/persons", params=params, headers=bearer(tokens.w1))
    slow = client.get(
        "/api/v1/persons", params={**params, "reveal": "false"}, headers=bearer(tokens.w1)
    )
    if fast.status_code != 200:
        _same_problem(fast, slow)
        return
    assert slow.status_code == 200
    a, b = fast.json(), slow.json()
    assert a == b
    assert a["masked"] is True
    assert fast.headers["cache-control"] == "no-store"


def test_search_refusals_are_the_same_problems(client: TestClient, tokens: Tokens) -> None:
    for headers in ({}, purpose(tokens.w1, "curiosity"), purpose(tokens.w1, "audit")):
        fast = client.get("/api/v1/persons", params={"q": "张"}, headers=headers)
        slow = client.get("/api/v1/persons", params={"q": "张", "reveal": "false"}, headers=headers)
        assert fast.status_code in (401, 403, 422)
        _same_problem(fast, slow)


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(b"q=%E5%BC%A0&q=x", id="repeated"),
        pytest.param(b"q=x&sort=uid", id="unknown-parameter"),
        pytest.param(b"q=", id="empty-q"),
        pytest.param(b"by=name", id="no-q"),
        pytest.param(b"q=" + b"x" * 65, id="long-q"),
        pytest.param(b"q=x&by=nickname", id="unknown-field"),
        pytest.param(b"q=x&limit=0", id="limit-0"),
        pytest.param(b"q=x&limit=101", id="limit-101"),
        pytest.param(b"q=x&limit=%2B5", id="limit-signed"),
        pytest.param(b"q=x&limit=05", id="limit-leading-zero"),
        pytest.param(b"q=x&cursor=" + b"c" * 257, id="long-cursor"),
        pytest.param(b"q=%FF", id="not-utf8"),
    ],
)
def test_an_unusual_search_goes_through_the_framework(query: bytes) -> None:
    assert search_params(query) is None


def test_a_refused_search_parameter_is_the_routes_validation_error(
    client: TestClient, tokens: Tokens
) -> None:
    r = client.get("/api/v1/persons", params={"q": "张", "limit": "0"}, headers=bearer(tokens.w1))
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"
