"""The 户籍 transport against the real simulator over HTTP: paging, WS-Security, what is
retried and what is not, and hostile XML refused."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
import zeep.exceptions
from zeep.loader import parse_xml

from adapters.contract import SourceUnavailable
from adapters.hukou import create_adapter
from adapters.hukou.client import HukouClient, HukouFault, UnsafeResponse
from adapters.hukou.safety import safe_settings, token
from simulators.hukou import HukouSimulator, soap
from tests.adapters.hukou.conftest import PERSONS
from tests.adapters.hukou.helpers import config_for, feed_key

pytestmark = pytest.mark.integration


def test_pages_through_the_whole_feed_in_key_order(sim: HukouSimulator) -> None:
    adapter = create_adapter(config_for(sim))
    stream = adapter.stream("persons")
    items = list(stream.extract({}))
    adapter.close()
    keys = [feed_key(dict(i.cursor)) for i in items]
    assert len(items) == PERSONS
    assert keys == sorted(keys)
    assert len({i.source_key for i in items}) == PERSONS
    assert sim.stats()["pages"] == -(-PERSONS // 100)


def test_lxml_and_zeep_decoders_yield_the_same_records(sim: HukouSimulator) -> None:
    fast = HukouClient(config_for(sim, decoder="lxml"))
    typed = HukouClient(config_for(sim, decoder="zeep"))
    a, b = fast.query_changed(page_size=50), typed.query_changed(page_size=50)
    assert a.persons == b.persons
    assert len(a.persons) == 50
    assert a.next_token
    assert b.next_token
    some = a.persons[7]["idNumber"]
    assert some is not None
    assert fast.get_person(some) == typed.get_person(some) == a.persons[7]
    fast.close()
    typed.close()


def test_get_person_answers_none_for_an_unknown_number(sim: HukouSimulator) -> None:
    client = HukouClient(config_for(sim))
    assert client.get_person("000000000000000000") is None
    assert client.attempts == 1  # NOT_FOUND is an answer, not a failure to retry
    client.close()


@pytest.mark.parametrize("digest", [True, False], ids=["PasswordDigest", "PasswordText"])
def test_check_connection_authenticates(sim: HukouSimulator, digest: bool) -> None:
    adapter = create_adapter(config_for(sim, password_digest=digest))
    assert adapter.check_connection() == (True, None)
    adapter.close()


def test_wrong_password_fails_at_once_without_retrying(sim: HukouSimulator) -> None:
    adapter = create_adapter(config_for(sim, password="not-the-password"))
    ok, error = adapter.check_connection()
    assert ok is False
    assert error is not None
    assert "authentication failed" in error
    with pytest.raises(HukouFault) as caught:
        list(adapter.stream("persons").extract({}))
    adapter.close()
    assert caught.value.code == "AUTH_FAILED"
    assert sim.stats()["auth_failures"] == 2  # one per call: a wrong password is never retried


def test_a_service_requiring_digest_refuses_a_clear_text_password() -> None:
    with HukouSimulator(5, seed=3, accept=("digest",)) as strict:
        plain = create_adapter(config_for(strict, password_digest=False))
        assert plain.check_connection()[0] is False
        plain.close()
        digest = create_adapter(config_for(strict, password_digest=True))
        assert digest.check_connection() == (True, None)
        digest.close()


@pytest.mark.parametrize(
    ("kind", "fault_code"),
    [
        pytest.param("http_500", "Server", id="http-500"),
        pytest.param("http_503", "Server", id="http-503"),
        pytest.param("soap_fault", "Server", id="soap-server-fault"),
        pytest.param("malformed", "Server", id="malformed-xml"),
        pytest.param("truncate", "Server", id="truncated-body"),
        pytest.param("disconnect", "Server", id="connection-cut"),
    ],
)
def test_transient_failures_are_retried_then_succeed(
    sim: HukouSimulator, kind: str, fault_code: str
) -> None:
    sim.inject(kind, times=2, page=3, fault_code=fault_code)
    client = HukouClient(config_for(sim))
    adapter_items = 0
    page = client.query_changed()
    adapter_items += len(page.persons)
    while page.next_token:
        page = client.query_changed(page_token=page.next_token)
        adapter_items += len(page.persons)
    client.close()
    assert adapter_items == PERSONS
    pages = -(-PERSONS // 100)
    assert client.attempts == pages + 2
    assert sim.stats()["faults"] == 2


def test_a_timeout_is_retried(sim: HukouSimulator) -> None:
    sim.inject("delay", times=1, page=1, delay_s=1.5)
    client = HukouClient(config_for(sim, timeout_s=0.5))
    page = client.query_changed()
    client.close()
    assert len(page.persons) == 100
    assert client.attempts == 2


def test_a_service_that_stays_down_raises_source_unavailable_after_the_budget(
    sim: HukouSimulator,
) -> None:
    sim.inject("http_503", times=100)
    client = HukouClient(config_for(sim, max_retries=2))
    with pytest.raises(SourceUnavailable, match=r"HTTP 503 after 3 attempt"):
        client.query_changed()
    client.close()
    assert client.attempts == 3


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        pytest.param(
            {"kind": "soap_fault", "fault_code": "Client"}, "REQUEST_REJECTED", id="client-fault"
        ),
    ],
)
def test_client_faults_are_not_retried(
    sim: HukouSimulator, setup: dict[str, str], code: str
) -> None:
    sim.inject(**setup)  # type: ignore[arg-type]
    client = HukouClient(config_for(sim))
    with pytest.raises(HukouFault) as caught:
        client.query_changed()
    client.close()
    assert caught.value.code == code
    assert client.attempts == 1


def test_a_bad_page_token_and_a_bad_page_size_are_client_faults() -> None:
    with HukouSimulator(20, seed=3, max_page_size=50) as small:
        client = HukouClient(config_for(small, page_size=100))
        with pytest.raises(HukouFault) as size:
            client.query_changed()
        with pytest.raises(HukouFault) as token:
            client.query_changed(page_token="eyJmb3JnZWQiOjF9.AAAA", page_size=10)
        client.close()
    assert size.value.code == "INVALID_PAGE_SIZE"
    assert token.value.code == "INVALID_PAGE_TOKEN"
    assert client.attempts == 2


@pytest.mark.parametrize("kind", ["xxe", "billion_laughs"])
def test_hostile_xml_is_refused_not_expanded(sim: HukouSimulator, kind: str) -> None:
    sim.inject(kind, times=5)
    client = HukouClient(config_for(sim))
    started = time.perf_counter()
    with pytest.raises(UnsafeResponse) as caught:
        client.query_changed()
    client.close()
    assert time.perf_counter() - started < 5
    assert client.attempts == 1  # refused, not retried
    assert "DTDForbidden" in str(caught.value)
    assert "root:" not in str(caught.value)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
@pytest.mark.parametrize("payload", [soap.xxe, soap.billion_laughs], ids=["xxe", "billion-laughs"])
def test_the_xml_parser_itself_refuses_dtds_and_entities(
    payload: Callable[[], bytes], encoding: str
) -> None:
    """The second line of defence, behind the prolog scan (which cannot read UTF-16)."""
    text = payload().decode().replace('encoding="UTF-8"', f'encoding="{encoding.upper()}"')
    with pytest.raises((zeep.exceptions.DTDForbidden, zeep.exceptions.XMLSyntaxError)) as caught:
        parse_xml(text.encode(encoding), None, settings=safe_settings())
    assert "root:" not in str(caught.value)


def test_no_personal_data_reaches_the_logs(
    sim: HukouSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim.inject("truncate", times=1, page=1)
    sim.inject("soap_fault", times=1, page=2)
    adapter = create_adapter(config_for(sim))
    items = list(adapter.stream("persons").extract({}))
    adapter.close()
    assert "attempt 1 of 4" in caplog.text  # the retries were logged…
    for item in items:
        assert isinstance(item.raw, dict)
        for value in (item.raw["idNumber"], item.raw["name"], item.raw["registeredAddress"]):
            assert value is None or value.strip() not in caplog.text  # …but no record content


def test_a_wsdl_pointing_elsewhere_is_not_trusted_unless_configured(sim: HukouSimulator) -> None:
    """zeep sends the credentials to the WSDL's soap:address: it must be the WSDL's host."""
    elsewhere = sim.wsdl_url.replace("127.0.0.1", "localhost")  # same server, other origin
    adapter = create_adapter(config_for(sim, wsdl_url=elsewhere))
    ok, error = adapter.check_connection()
    adapter.close()
    assert ok is False
    assert error is not None
    assert "another host" in error
    trusted = create_adapter(config_for(sim, wsdl_url=elsewhere, service_url=sim.service_url))
    assert trusted.check_connection() == (True, None)
    trusted.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("soap:Client", "soap:Client", id="qname"),
        pytest.param(" NOT_FOUND ", "NOT_FOUND", id="code"),
        pytest.param("NO_PERSON_330106198001010012", "withheld", id="id-number-withheld"),
        pytest.param("<b>不存在</b>", "bb", id="markup-stripped"),
        pytest.param("", None, id="empty"),
    ],
)
def test_fault_codes_are_reduced_to_short_tokens(text: str, expected: str | None) -> None:
    assert token(text) == expected


def test_backoff_doubles_with_full_jitter_up_to_the_cap() -> None:
    slept: list[float] = []
    client = HukouClient(config_for_unreachable(), sleep=slept.append, jitter=lambda: 1.0)
    with pytest.raises(SourceUnavailable, match="ConnectionError after 6 attempt"):
        client.query_changed()
    client.close()
    assert slept == [0.1, 0.2, 0.4, 0.8, 1.0]


def config_for_unreachable() -> object:
    from adapters.hukou import HukouConfig

    return HukouConfig(
        wsdl_url="http://127.0.0.1:9/hukou?wsdl",
        timeout_s=1,
        max_retries=5,
        backoff_s=0.1,
        max_backoff_s=1.0,
    )
