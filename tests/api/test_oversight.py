"""Events, figures and the auditor's endpoints over REST."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.district import Seeded, Tokens, bearer, purpose


def test_events_are_scoped_and_payloads_need_a_purpose(
    client: TestClient, tokens: Tokens, seeded: Seeded
) -> None:
    masked = client.get("/api/v1/events", headers=bearer(tokens.w1)).json()
    assert [e["uid"] for e in masked["items"]] == [seeded.event_g1]
    assert masked["items"][0]["payload"] is None
    assert masked["masked"] is True
    revealed = client.get(
        "/api/v1/events", params={"reveal": "true"}, headers=purpose(tokens.w1, "welfare_visit")
    ).json()
    assert revealed["items"][0]["payload"] == {"text": "张伟 13812345678 反映楼道漏水"}
    everything = client.get("/api/v1/events", headers=bearer(tokens.operator)).json()
    assert {e["uid"] for e in everything["items"]} == {seeded.event_g1, seeded.event_g2}
    typed = client.get(
        "/api/v1/events", params={"type": "device.smoke"}, headers=bearer(tokens.admin)
    ).json()
    assert [e["uid"] for e in typed["items"]] == [seeded.event_g2]
    paged = client.get("/api/v1/events", params={"limit": 1}, headers=bearer(tokens.admin)).json()
    assert len(paged["items"]) == 1
    assert paged["next_cursor"]
    bad = client.get("/api/v1/events", params={"type": "DROP;"}, headers=bearer(tokens.admin))
    assert bad.status_code == 422


def test_stats_come_from_workflow_measures_within_scope(
    client: TestClient, tokens: Tokens, seeded: Seeded
) -> None:
    window = {"start": "2026-03-01T00:00:00Z", "end": "2026-03-31T00:00:00Z"}
    mine = client.get(
        "/api/v1/stats", params={**window, "group_by": "grid"}, headers=bearer(tokens.w1)
    )
    assert mine.status_code == 200, mine.text
    assert set(mine.json()["groups"]) == {"330106001001001"}
    assert mine.json()["groups"]["330106001001001"]["created"] == 1
    district = client.get(
        "/api/v1/stats", params={**window, "group_by": "grid"}, headers=bearer(tokens.operator)
    ).json()
    assert set(district["groups"]) == {"330106001001001", "330106001001002"}
    too_long = client.get(
        "/api/v1/stats",
        params={"start": "2024-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        headers=bearer(tokens.w1),
    )
    assert too_long.status_code == 422
    assert (
        client.get("/api/v1/stats", params={"group_by": "x"}, headers=bearer(tokens.w1)).status_code
        == 422
    )


def test_audit_endpoints_answer_auditors_only(
    client: TestClient, tokens: Tokens, seeded: Seeded
) -> None:
    client.get(f"/api/v1/persons/{seeded.p1}", headers=bearer(tokens.w1))
    client.get(f"/api/v1/persons/{seeded.p3}", headers=bearer(tokens.w1))  # denied
    refused = client.get(f"/api/v1/audit/persons/{seeded.p1}/accesses", headers=bearer(tokens.w1))
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    accesses = client.get(
        f"/api/v1/audit/persons/{seeded.p1}/accesses", headers=bearer(tokens.auditor)
    )
    assert accesses.status_code == 200, accesses.text
    rows = accesses.json()["items"]
    assert [(a["actor_subject"], a["operation"], a["result"]) for a in rows] == [
        ("W1", "person.get", "ok")
    ]
    outside = client.get(
        f"/api/v1/audit/persons/{seeded.p3}/accesses", headers=bearer(tokens.auditor)
    ).json()["items"]
    assert [(a["actor_subject"], a["result"]) for a in outside] == [("W1", "denied")]
    by_actor = client.get(
        "/api/v1/audit/actors/W1/accesses", params={"limit": 2}, headers=bearer(tokens.auditor)
    ).json()
    assert len(by_actor["items"]) == 2
    assert by_actor["next_cursor"]
    rest = client.get(
        "/api/v1/audit/actors/W1/accesses",
        params={"cursor": by_actor["next_cursor"]},
        headers=bearer(tokens.auditor),
    ).json()
    assert [a["seq"] for a in rest["items"]] > [a["seq"] for a in by_actor["items"]]
    by_counterpart = client.get(
        "/api/v1/audit/counterparts/rest/accesses", headers=bearer(tokens.auditor)
    ).json()
    assert len(by_counterpart["items"]) >= 3
    # the auditor's own question about P1 is itself an access to P1's history
    again = client.get(
        f"/api/v1/audit/persons/{seeded.p1}/accesses", headers=bearer(tokens.auditor)
    ).json()["items"]
    assert ("aud-1", "audit.person") in {(a["actor_subject"], a["operation"]) for a in again}
