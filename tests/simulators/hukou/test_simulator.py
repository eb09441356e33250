"""The 户籍 simulator on the wire: its WSDL, WS-Security, keyset paging under concurrent
changes, faults, safe request parsing, and the subprocess mode."""

from __future__ import annotations

import base64
import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
import zeep
from lxml import etree

from simulators.hukou import HukouSimulator
from simulators.hukou.soap import SOAP_ENV, TNS
from simulators.hukou.wssec import WSSE_NS, WSU_NS

pytestmark = pytest.mark.integration
PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"


@pytest.fixture(scope="module")
def sim() -> Iterator[HukouSimulator]:
    with HukouSimulator(300, seed=5) as simulator:
        yield simulator


def text_token(user: str, password: str) -> str:
    return (
        f'<wsse:Security xmlns:wsse="{WSSE_NS}"><wsse:UsernameToken>'
        f"<wsse:Username>{user}</wsse:Username>"
        f'<wsse:Password Type="{PROFILE}#PasswordText">{password}</wsse:Password>'
        "</wsse:UsernameToken></wsse:Security>"
    )


def digest_token(user: str, password: str, nonce: bytes, created: str) -> str:
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest())
    return (
        f'<wsse:Security xmlns:wsse="{WSSE_NS}" xmlns:wsu="{WSU_NS}"><wsse:UsernameToken>'
        f"<wsse:Username>{user}</wsse:Username>"
        f'<wsse:Password Type="{PROFILE}#PasswordDigest">{digest.decode()}</wsse:Password>'
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{created}</wsu:Created>"
        "</wsse:UsernameToken></wsse:Security>"
    )


def call(
    sim: HukouSimulator, operation: str, params: dict[str, str], security: str | None = None
) -> tuple[int, etree._Element]:
    if security is None:
        security = text_token(sim.username, sim.password)
    body = "".join(f"<h:{k}>{v}</h:{k}>" for k, v in params.items())
    envelope = (
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:h="{TNS}">'
        f"<soap:Header>{security}</soap:Header>"
        f"<soap:Body><h:{operation}>{body}</h:{operation}></soap:Body></soap:Envelope>"
    )
    return post(sim, envelope.encode())


def post(sim: HukouSimulator, payload: bytes) -> tuple[int, etree._Element]:
    r = requests.post(
        sim.service_url, data=payload, headers={"Content-Type": "text/xml"}, timeout=10
    )
    return r.status_code, etree.fromstring(r.content)


def fault_of(doc: etree._Element) -> tuple[str, str]:
    fault = doc.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None
    return fault.findtext("faultcode") or "", fault.findtext(
        f"detail/{{{TNS}}}ServiceFault/{{{TNS}}}code"
    ) or ""


def persons_of(doc: etree._Element) -> tuple[list[dict[str, str]], str | None]:
    response = doc.find(f"{{{SOAP_ENV}}}Body/{{{TNS}}}QueryChangedPersonsResponse")
    assert response is not None
    persons = [
        {etree.QName(c).localname: c.text or "" for c in p}
        for p in response.iterchildren(f"{{{TNS}}}person")
    ]
    return persons, response.findtext(f"{{{TNS}}}nextPageToken")


def test_the_wsdl_is_document_literal_and_describes_person(sim: HukouSimulator) -> None:
    client = zeep.Client(sim.wsdl_url, settings=zeep.Settings(forbid_dtd=True))
    binding = client.service._binding
    assert set(binding.all()) == {"QueryChangedPersons", "GetPersonByIdNumber"}
    assert all(op.style == "document" for op in binding.all().values())
    person = client.get_type(f"{{{TNS}}}Person")
    assert [name for name, _ in person.elements] == [
        "idNumber", "name", "gender", "birthDate", "ethnicity", "registeredAddress",
        "householdNo", "relationToHead", "status", "updatedAt", "version",
    ]  # fmt: skip
    assert client.service._binding_options["address"] == sim.service_url


def test_paging_is_stable_while_records_change(sim: HukouSimulator) -> None:
    seen: list[dict[str, str]] = []
    status, doc = call(sim, "QueryChangedPersons", {"pageSize": "40"})
    page, token = persons_of(doc)
    seen += page
    changed = set(sim.touch(60))  # while the client is between pages
    while token:
        status, doc = call(sim, "QueryChangedPersons", {"pageToken": token})
        assert status == 200
        page, token = persons_of(doc)
        seen += page
    ids = [p["idNumber"] for p in seen]
    assert set(ids) == {p["idNumber"] for p in sim.snapshot()}  # nobody skipped
    # A record changed after it was served comes again, newer, at the end of the feed.
    first_page = {p["idNumber"] for p in seen[:40]}
    again = [p for p in seen[40:] if p["idNumber"] in first_page]
    assert {p["idNumber"] for p in again} == first_page & changed
    assert all(int(p["version"]) >= 2 for p in again)


def test_afterid_resumes_inside_a_group_of_equal_timestamps(sim: HukouSimulator) -> None:
    feed = sim.snapshot()
    assert feed[10]["updatedAt"] == feed[11]["updatedAt"]  # the migration's tie group
    params = {"since": feed[10]["updatedAt"], "afterId": feed[10]["idNumber"], "pageSize": "5"}
    _, doc = call(sim, "QueryChangedPersons", params)
    page, _ = persons_of(doc)
    assert [p["idNumber"] for p in page] == [p["idNumber"] for p in feed[11:16]]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        pytest.param(
            {"pageToken": "bm90LWEtdG9rZW4.AAAAAAAAAAAAAAAA"},
            "INVALID_PAGE_TOKEN",
            id="forged-token",
        ),
        pytest.param({"pageSize": "0"}, "INVALID_PAGE_SIZE", id="page-size-0"),
        pytest.param({"pageSize": "5001"}, "INVALID_PAGE_SIZE", id="page-size-too-big"),
        pytest.param({"since": "yesterday"}, "INVALID_ARGUMENT", id="bad-since"),
    ],
)
def test_bad_arguments_are_client_faults(
    sim: HukouSimulator, params: dict[str, str], code: str
) -> None:
    status, doc = call(sim, "QueryChangedPersons", params)
    assert status == 500
    assert fault_of(doc) == ("soap:Client", code)


def test_get_person_by_id_number(sim: HukouSimulator) -> None:
    some = sim.snapshot()[3]["idNumber"]
    status, doc = call(sim, "GetPersonByIdNumber", {"idNumber": some})
    assert status == 200
    assert doc.findtext(f".//{{{TNS}}}idNumber") == some
    status, doc = call(sim, "GetPersonByIdNumber", {"idNumber": "110101190001010000"})
    assert fault_of(doc) == ("soap:Client", "NOT_FOUND")


def now_created(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_ws_security(sim: HukouSimulator) -> None:
    q = ("QueryChangedPersons", {"pageSize": "1"})
    assert call(sim, *q, security="")[0] == 500
    assert fault_of(call(sim, *q, security="")[1])[0] == "wsse:InvalidSecurity"
    assert fault_of(call(sim, *q, security=text_token(sim.username, "wrong"))[1]) == (
        "wsse:FailedAuthentication",
        "AUTH_FAILED",
    )
    assert fault_of(call(sim, *q, security=text_token("mallory", sim.password))[1])[0] == (
        "wsse:FailedAuthentication"
    )
    nonce, created = os.urandom(16), now_created()
    token = digest_token(sim.username, sim.password, nonce, created)
    assert call(sim, *q, security=token)[0] == 200
    replayed = call(sim, *q, security=token)
    assert fault_of(replayed[1])[0] == "wsse:FailedAuthentication"  # a nonce works once
    stale = digest_token(
        sim.username, sim.password, os.urandom(16), now_created(-timedelta(hours=1))
    )
    assert fault_of(call(sim, *q, security=stale)[1])[0] == "wsse:MessageExpired"


def test_a_request_with_a_dtd_is_refused_unexpanded(sim: HukouSimulator) -> None:
    hostile = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:h="{TNS}"><soap:Body>'
        "<h:GetPersonByIdNumber><h:idNumber>&b;</h:idNumber></h:GetPersonByIdNumber>"
        "</soap:Body></soap:Envelope>"
    )
    status, doc = post(sim, hostile.encode())
    assert status == 500
    assert fault_of(doc) == ("soap:Client", "DTD_FORBIDDEN")


def test_admin_calls_need_the_token(sim: HukouSimulator) -> None:
    base = sim.service_url.rsplit("/", 1)[0]
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(f"{base}/admin/stats", timeout=5)
    assert denied.value.code == 403
    assert sim.stats()["persons"] == 300


def test_the_same_seed_serves_the_same_register() -> None:
    with HukouSimulator(40, seed=9) as a, HukouSimulator(40, seed=9) as b:
        assert a.snapshot() == b.snapshot()


def test_subprocess_mode_serves_and_stops() -> None:
    simulator = HukouSimulator(60, seed=4, subprocess=True)
    url = simulator.start()
    try:
        assert simulator.pid is not None
        assert requests.get(url, timeout=10).status_code == 200
        changed = simulator.touch(3)
        versions = {p["idNumber"]: p["version"] for p in simulator.snapshot()}
        assert [versions[c] for c in changed] == [2, 2, 2]
        pid = simulator.pid
    finally:
        simulator.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
