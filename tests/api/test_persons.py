"""The unified record and search: scope, masking, purposes, and the read log."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import audit
from api import Hub
from canonical_model import ExchangeLogEntry
from tests.api.district import (
    P1_ADDRESS,
    P1_ID,
    P1_PHONE,
    P4_ID,
    Seeded,
    Tokens,
    bearer,
    purpose,
)


def log(hub: Hub) -> list[ExchangeLogEntry]:
    hub.flush_reads()  # read entries are group-committed: land them first
    with hub.sessions() as s:
        return list(s.scalars(select(ExchangeLogEntry).order_by(ExchangeLogEntry.seq)))


def test_record_is_masked_by_default_and_complete(
    client: TestClient, tokens: Tokens, seeded: Seeded
) -> None:
    r = client.get(f"/api/v1/persons/{seeded.p1}", headers=bearer(tokens.w1))
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["masked"] is True
    assert body["name"] == "张*"
    assert body["resident_id"] == P1_ID[:6] + "********" + P1_ID[-4:]
    assert body["phone"] == "138****5678"
    assert body["residential_address"] == "浙江省杭州市西湖区文三路****"
    assert body["birth_date"] == "1950"
    assert body["name_pinyin"] is None
    assert body["tags"] == ["elderly", "dibao"]
    assert body["conflicting_fields"] == ["phone"]
    lineage = {item["field"]: item for item in body["lineage"]}
    assert lineage["phone"]["source"] == "civil_affairs"
    assert lineage["phone"]["version"] == 2
    assert lineage["name"]["source_key"].endswith(P1_ID[-4:])
    assert P1_ID not in r.text
    assert P1_PHONE not in r.text
    assert {(s["source"], s["records"]) for s in body["sources"]} == {
        ("hukou", 1),
        ("civil_affairs", 1),
    }
    household = body["household"]
    assert household["relation"] == "户主"
    assert [m["person_uid"] for m in household["members"]] == [seeded.p2]
    assert household["hidden_members"] == 1  # the daughter lives in G2
    assert [e["uid"] for e in body["recent_events"]] == [seeded.event_g1]
    assert body["recent_events"][0]["payload"] is None
    assert [t["uid"] for t in body["open_tasks"]] == [seeded.task_g1]


def test_reveal_with_an_allowed_purpose_shows_identifiers_and_logs_it(
    client: TestClient, tokens: Tokens, seeded: Seeded, sessions: sessionmaker[Session], hub: Hub
) -> None:
    r = client.get(
        f"/api/v1/persons/{seeded.p1}",
        params={"reveal": "true"},
        headers=purpose(tokens.w1, "welfare_visit"),
    )
    assert r.status_code == 200
    body = r.json()
    assert body["masked"] is False
    assert (body["name"], body["resident_id"], body["phone"]) == ("张伟", P1_ID, P1_PHONE)
    assert body["residential_address"] == P1_ADDRESS
    assert body["recent_events"][0]["payload"]["text"].startswith("张伟")
    entry = log(hub)[-1]
    assert (entry.actor_subject, entry.actor_role, entry.purpose) == (
        "W1",
        "grid_worker",
        "welfare_visit",
    )
    assert entry.operation == "person.get"
    assert entry.direction == "read"
    assert entry.counterpart == "rest"
    assert entry.correlation_id == r.headers["x-request-id"]
    assert sorted(entry.object_refs["persons"]) == sorted([seeded.p1, seeded.p2])
    assert entry.object_refs["clear"] is True
    assert "resident_id" in entry.object_refs["fields"]
    # never the identifiers themselves
    assert P1_ID not in str(entry.object_refs)
    assert P1_PHONE not in str(entry.object_refs)


def _problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert body["code"] == code
    assert set(body) >= {"type", "title", "status", "detail", "instance"}
    assert body["instance"] == f"urn:uuid:{r.headers['x-request-id']}"
    return body


@pytest.mark.parametrize(
    ("token", "headers", "status", "code"),
    [
        pytest.param("w1", {}, 422, "purpose_required", id="reveal-without-purpose"),
        pytest.param(
            "w1", {"X-Purpose": "hotline_case"}, 403, "purpose_not_allowed", id="ungranted"
        ),
        pytest.param("w1", {"X-Purpose": "sightseeing"}, 422, "unknown_purpose", id="unknown"),
        pytest.param("w1", {"X-Purpose": "DROP TABLE"}, 422, "unknown_purpose", id="junk"),
        pytest.param("operator", {}, 422, "purpose_required", id="operator-no-purpose"),
        pytest.param("auditor", {}, 422, "purpose_required", id="auditor-no-purpose"),
    ],
)
def test_reveal_refusals_are_problems_and_are_logged(
    client: TestClient,
    tokens: Tokens,
    seeded: Seeded,
    sessions: sessionmaker[Session],
    hub: Hub,
    token: str,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    r = client.get(
        f"/api/v1/persons/{seeded.p1}",
        params={"reveal": "true"},
        headers=bearer(getattr(tokens, token), **headers),
    )
    body = _problem(r, status, code)
    assert P1_ID not in r.text
    assert "张伟" not in r.text
    assert "DROP" not in r.text
    assert body["type"] == f"/problems/{code.replace('_', '-')}"
    entry = log(hub)[-1]
    assert entry.result == "denied"
    assert entry.object_refs["reason"] == code
    assert entry.purpose in (None, "welfare_visit")  # an unknown purpose is never stored


def test_a_role_without_unmask_is_refused_even_with_a_purpose(
    client: TestClient, tokens: Tokens, seeded: Seeded
) -> None:
    auditor = tokens.make("auditor", "aud-2", purposes=("audit",))
    r = client.get(
        f"/api/v1/persons/{seeded.p1}",
        params={"reveal": "true"},
        headers=purpose(auditor, "audit"),
    )
    _problem(r, 403, "reveal_refused")
    masked = client.get(f"/api/v1/persons/{seeded.p1}", headers=purpose(auditor, "audit"))
    assert masked.status_code == 200
    assert masked.json()["masked"] is True


def test_outside_the_grid_is_403_and_the_attempt_is_logged(
    client: TestClient, tokens: Tokens, seeded: Seeded, sessions: sessionmaker[Session], hub: Hub
) -> None:
    r = client.get(f"/api/v1/persons/{seeded.p3}", headers=bearer(tokens.w1))
    body = _problem(r, 403, "outside_scope")
    assert "王芳" not in r.text
    assert seeded.p3 not in body["detail"]
    entry = log(hub)[-1]
    assert (entry.actor_subject, entry.result) == ("W1", "denied")
    assert entry.object_refs == {"reason": "outside_scope", "persons": [seeded.p3]}
    with sessions() as s:
        accesses = audit.who_accessed(s, seeded.p3)
    assert [(a.actor_subject, a.result) for a in accesses] == [("W1", "denied")]


def test_community_admin_sees_both_grids_and_operator_sees_all(
    client: TestClient, tokens: Tokens, seeded: Seeded
) -> None:
    for token in (tokens.admin, tokens.operator, tokens.hotline):
        assert client.get(f"/api/v1/persons/{seeded.p3}", headers=bearer(token)).status_code == 200
    denied = client.get(f"/api/v1/persons/{seeded.p1}", headers=bearer(tokens.scoped_platform))
    assert denied.status_code == 403


def test_unknown_and_malformed_uids(client: TestClient, tokens: Tokens, seeded: Seeded) -> None:
    _problem(client.get("/api/v1/persons/" + "0" * 26, headers=bearer(tokens.w1)), 404, "not_found")
    r = client.get("/api/v1/persons/not-a-uid", headers=bearer(tokens.w1))
    body = _problem(r, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["path", "uid"]
    assert "not-a-uid" not in r.text


def _search(client: TestClient, token: str, q: str, **params: Any) -> list[str]:
    r = client.get("/api/v1/persons", params={"q": q, **params}, headers=bearer(token))
    assert r.status_code == 200, r.text
    return [p["uid"] for p in r.json()["items"]]


@pytest.mark.parametrize(
    ("q", "by", "expected"),
    [
        pytest.param("张伟", "auto", "p1", id="name"),
        pytest.param("张", "auto", "p1", id="surname"),
        pytest.param("zhang wei", "auto", "p1", id="pinyin"),
        pytest.param("ZHANG W", "pinyin", "p1", id="pinyin-prefix"),
        pytest.param(P1_ID, "auto", "p1", id="resident-id"),
        pytest.param("138 1234 5678", "auto", "p1", id="phone"),
        pytest.param("+86 13812345678", "phone", "p1", id="phone-cc"),
        pytest.param("文三路90号3幢", "auto", "p1 p2", id="address-normalised"),
        pytest.param("宝石社区12号", "address", "p1", id="registered-address"),
        # a trailing number still being typed is not a room: no 室 is added to a fragment
        pytest.param("文三路90号3幢2", "auto", "p1 p2", id="address-trailing-digit"),
        pytest.param("宝石社区1", "auto", "p1", id="address-trailing-1"),
        pytest.param("3幢201室", "auto", "p1 p2", id="address-explicit-room"),
        pytest.param("李", "name", "p2", id="other-name"),
    ],
)
def test_search_finds_within_the_grid(
    client: TestClient, tokens: Tokens, seeded: Seeded, q: str, by: str, expected: str
) -> None:
    wanted = sorted(getattr(seeded, name) for name in expected.split())
    assert _search(client, tokens.w1, q, by=by) == wanted


def test_search_never_reaches_outside_the_grid(
    client: TestClient, tokens: Tokens, seeded: Seeded
) -> None:
    assert _search(client, tokens.w1, "王芳") == []
    assert _search(client, tokens.w1, P4_ID) == []
    assert _search(client, tokens.w4, "王芳") == [seeded.p3]
    # a phone known only as an extra identifier
    assert _search(client, tokens.w4, "13700009999") == [seeded.p4]
    assert _search(client, tokens.operator, "13700001111") == [seeded.p4]


def test_search_pages_with_an_opaque_cursor(
    client: TestClient, tokens: Tokens, seeded: Seeded
) -> None:
    first = client.get(
        "/api/v1/persons", params={"q": "浙江省", "limit": 1}, headers=bearer(tokens.w1)
    ).json()
    assert len(first["items"]) == 1
    assert first["next_cursor"]
    second = client.get(
        "/api/v1/persons",
        params={"q": "浙江省", "limit": 1, "cursor": first["next_cursor"]},
        headers=bearer(tokens.w1),
    ).json()
    assert second["next_cursor"] is None
    assert {first["items"][0]["uid"], second["items"][0]["uid"]} == {seeded.p1, seeded.p2}
    bad = client.get(
        "/api/v1/persons",
        params={"q": "x", "cursor": "bm90LWEtY3Vyc29y"},
        headers=bearer(tokens.w1),
    )
    _problem(bad, 422, "invalid_cursor")


def test_search_logs_uids_and_kind_but_never_the_query(
    client: TestClient, tokens: Tokens, seeded: Seeded, sessions: sessionmaker[Session], hub: Hub
) -> None:
    _search(client, tokens.w1, P1_ID)
    entry = log(hub)[-1]
    assert entry.operation == "person.search"
    assert entry.object_refs["persons"] == [seeded.p1]
    assert entry.object_refs["search_field"] == "resident_id"
    assert P1_ID not in str(entry.object_refs)
    _search(client, tokens.w1, "nobody here")
    assert log(hub)[-1].record_count == 0


def test_a_read_that_cannot_be_logged_is_refused_and_shows_nothing(
    client: TestClient, tokens: Tokens, seeded: Seeded, hub: Hub
) -> None:
    r = client.get(f"/api/v1/persons/{seeded.p1}", headers=bearer(tokens.w1))
    assert r.status_code == 200
    hub.close()  # the read log takes no more entries (as when it cannot write)
    r = client.get(f"/api/v1/persons/{seeded.p1}", headers=bearer(tokens.w1))
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert seeded.p1 not in r.text
    assert "张" not in r.text
    r = client.get("/api/v1/persons", params={"q": "张"}, headers=bearer(tokens.w1))
    assert r.status_code == 503
    entries = log(hub)
    assert [e.operation for e in entries if e.result == "ok"] == ["person.get"]
