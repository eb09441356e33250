"""The FHIR simulator behaves as a FHIR R4 server: searches, snapshot paging through next
links, OperationOutcome errors, and the faults it is asked to inject."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from simulators.health import RESIDENT_ID_SYSTEM, HealthSimulator
from simulators.health.data import district_health

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sim() -> Iterator[HealthSimulator]:
    with HealthSimulator(80, seed=5, invalid=3) as simulator:
        yield simulator


@pytest.fixture
def http(sim: HealthSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, timeout=10) as client:
        yield client
    sim.clear_faults()


def next_link(bundle: dict[str, Any]) -> str | None:
    return next((lk["url"] for lk in bundle["link"] if lk["relation"] == "next"), None)


def read_all(http: httpx.Client, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    bundle = http.get(path, params=params).raise_for_status().json()
    resources = [e["resource"] for e in bundle.get("entry", [])]
    pages = 1
    while url := next_link(bundle):
        bundle = http.get(url).raise_for_status().json()
        resources += [e["resource"] for e in bundle.get("entry", [])]
        pages += 1
    return resources, pages


def test_district_data_is_deterministic_and_plants_what_it_says() -> None:
    a, b = district_health(60, seed=3, invalid=3), district_health(60, seed=3, invalid=3)
    assert a.resources == b.resources
    assert sum(r["resourceType"] == "Patient" for r in a.resources) == 60
    assert {x.split("/")[0] for x in a.invalid} == {"Patient", "Encounter", "Observation"}
    ids = {r["id"]: r for r in a.resources}
    for eid in a.discharges_alone:
        assert ids[eid]["status"] == "finished"
        assert "end" in ids[eid]["period"]


def test_search_pages_through_every_resource_oldest_first(
    sim: HealthSimulator, http: httpx.Client
) -> None:
    patients, pages = read_all(http, "/Patient", _count=25, _sort="_lastUpdated")
    assert len(patients) == 80
    assert pages == 4
    stamps = [datetime.fromisoformat(p["meta"]["lastUpdated"]) for p in patients]
    assert stamps == sorted(stamps)
    first = patients[0]
    ids = {i["system"]: i["value"] for i in first["identifier"]}
    assert RESIDENT_ID_SYSTEM in ids or len(first["identifier"]) == 1  # some lack an ID
    assert first["name"][0]["text"]


def test_last_updated_filter_and_snapshot_instant(sim: HealthSimulator, http: httpx.Client) -> None:
    everything, _ = read_all(http, "/Observation", _count=1000)
    stamps = sorted(r["meta"]["lastUpdated"] for r in everything)
    middle = stamps[len(stamps) // 2]
    newer, _ = read_all(http, "/Observation", _lastUpdated=f"gt{middle}", _count=1000)
    expected = [s for s in stamps if datetime.fromisoformat(s) > datetime.fromisoformat(middle)]
    assert sorted(r["meta"]["lastUpdated"] for r in newer) == expected
    bundle = http.get("/Observation", params={"_count": 5}).json()
    taken = datetime.fromisoformat(bundle["meta"]["lastUpdated"])
    assert all(datetime.fromisoformat(s) < taken for s in stamps)


def test_changes_get_a_new_version_after_the_last_snapshot(
    sim: HealthSimulator, http: httpx.Client
) -> None:
    taken = http.get("/Patient", params={"_count": 1}).json()["meta"]["lastUpdated"]
    ids = sim.touch("Patient", 3)
    changed, _ = read_all(http, "/Patient", _lastUpdated=f"gt{taken}")
    assert sorted(p["id"] for p in changed) == sorted(ids)
    assert all(int(p["meta"]["versionId"]) >= 2 for p in changed)


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        pytest.param({"name": "张"}, 400, "not-supported", id="unknown-parameter"),
        pytest.param({"_sort": "-_lastUpdated"}, 400, "not-supported", id="other-sort"),
        pytest.param({"_lastUpdated": "gtyesterday"}, 400, "invalid", id="bad-date"),
        pytest.param({"_count": "many"}, 400, "invalid", id="bad-count"),
    ],
)
def test_refusals_are_operation_outcomes(
    http: httpx.Client, params: dict[str, str], status: int, code: str
) -> None:
    resp = http.get("/Patient", params=params)
    assert resp.status_code == status
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == code


def test_expired_search_is_gone(http: httpx.Client) -> None:
    resp = http.get("", params={"_getpages": "nosuchsearch", "_getpagesoffset": 0})
    assert resp.status_code == 410
    assert resp.json()["resourceType"] == "OperationOutcome"


def test_injected_faults(sim: HealthSimulator, http: httpx.Client) -> None:
    sim.inject("operation_outcome", resource="Patient", status=503)
    resp = http.get("/Patient")
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "1"
    assert resp.json()["issue"][0]["code"] == "exception"
    sim.inject("http_error", resource="Patient", page=2, status=502)
    first = http.get("/Patient", params={"_count": 30}).json()
    failed = http.get(next_link(first) or "")
    assert failed.status_code == 502
    assert failed.headers["content-type"].startswith("text/html")
    sim.inject("paging_loop", resource="Encounter", page=1)
    bundle = http.get("/Encounter", params={"_count": 2}).json()
    self_link = next(lk["url"] for lk in bundle["link"] if lk["relation"] == "self")
    assert next_link(bundle) == self_link
    assert sim.stats()["faults"] >= 3


def test_bearer_token_is_required_when_configured() -> None:
    with HealthSimulator([{"resourceType": "Patient", "id": "p1"}], token="t0ken") as sim:
        assert httpx.get(f"{sim.base_url}/Patient").status_code == 401
        ok = httpx.get(f"{sim.base_url}/Patient", headers={"Authorization": "Bearer t0ken"})
        assert ok.status_code == 200
        assert ok.json()["total"] == 1
