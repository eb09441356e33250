"""Hostile and broken SOAP replies, served to the real 户籍 client over HTTP on loopback.

The WSDL comes from the 户籍 simulator; the service calls go through a small relay (the
adapter's ``service_url``) that forwards to the simulator, or answers with a corpus file
instead. So zeep, requests, the prolog check and lxml all run exactly as in production.

A DTD in any form is refused before libxml2 sees it and never retried; malformed or
truncated XML is retried, then the sync stops with the cause named; an XXE aimed at a local
port never connects. A refused page stops the sync without losing the pages before it, and
a clean re-run completes without duplicates.
"""

from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import zeep.exceptions
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from zeep.loader import parse_xml

from adapters.contract import SourceUnavailable
from adapters.engine import sync_stream
from adapters.hukou import create_adapter
from adapters.hukou.client import HukouClient, UnsafeResponse
from adapters.hukou.safety import safe_settings
from canonical_model import Quarantine, SourceRecord, SyncState
from canonical_model.store import make_engine, session_factory
from simulators.hukou import HukouSimulator
from tests.adapters.hukou.helpers import config_for, person
from tests.corpus.corpus import Entry, grow, of_kind, valid_id

pytestmark = pytest.mark.integration
PERSONS = 250
SOAP = [pytest.param(e, id=e.file) for e in of_kind("soap")]


class Relay(ThreadingHTTPServer):
    """Forwards SOAP posts to the simulator unless a corpus reply is planned for a call."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _RelayHandler)
        self.upstream = upstream
        self.plan: dict[int, bytes] = {}  # call number (1-based) → reply body
        self.always: bytes | None = None
        self.calls = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hukou"

    def reset(self) -> None:
        with self.lock:
            self.plan, self.always, self.calls = {}, None, 0


class _RelayHandler(BaseHTTPRequestHandler):
    server: Relay

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.calls += 1
            planned = self.server.always
            if planned is None:
                planned = self.server.plan.get(self.server.calls)
        if planned is not None:
            self._send(200, planned, "text/xml; charset=utf-8")
            return
        request = urllib.request.Request(self.server.upstream, data=body, method="POST")
        for name in ("Content-Type", "SOAPAction"):
            if self.headers.get(name):
                request.add_header(name, self.headers[name])
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                self._send(reply.status, reply.read(), reply.headers["Content-Type"])
        except urllib.error.HTTPError as err:
            self._send(err.code, err.read(), err.headers["Content-Type"] or "text/xml")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def sim() -> Iterator[HukouSimulator]:
    with HukouSimulator(PERSONS, seed=23) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def relay(sim: HukouSimulator) -> Iterator[Relay]:
    server = Relay(sim.service_url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def canary() -> Iterator[socket.socket]:
    """A listening port an SSRF entity is pointed at: it must never be connected to."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def _connected(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def _body(entry: Entry, canary: socket.socket) -> bytes:
    port = str(canary.getsockname()[1]).encode()
    return entry.read().replace(b"127.0.0.1:9/", b"127.0.0.1:" + port + b"/")


@pytest.mark.parametrize("entry", SOAP)
def test_each_reply_is_refused_by_the_client_with_its_reason(
    entry: Entry, sim: HukouSimulator, relay: Relay, canary: socket.socket
) -> None:
    relay.reset()
    relay.always = _body(entry, canary)
    client = HukouClient(config_for(sim, service_url=relay.url, max_retries=2))
    try:
        with pytest.raises(SourceUnavailable) as caught:
            client.query_changed(page_size=10)
    finally:
        client.close()
    message = str(caught.value)
    assert "root:" not in message
    assert "张三" not in message
    if entry.expect == "unsafe.dtd":
        assert isinstance(caught.value, UnsafeResponse)
        assert "DTDForbidden" in message
        assert relay.calls == 1  # a hostile peer is not asked again
    elif entry.expect == "unsafe.entity":
        assert isinstance(caught.value, UnsafeResponse)
        assert "EntitiesForbidden" in message
        assert relay.calls == 1
    elif entry.expect == "malformed":
        assert not isinstance(caught.value, UnsafeResponse)
        assert "malformed or truncated XML" in message
        assert relay.calls == 3  # retried: a cut reply is usually the network's fault
    else:
        assert entry.expect == "not_soap"
        assert "is not a QueryChangedPersonsResponse" in message
    assert not _connected(canary)


@pytest.mark.parametrize(
    "entry",
    [e for e in SOAP if e.values[0].expect == "unsafe.dtd"],  # type: ignore[union-attr]
)
def test_the_xml_parser_settings_refuse_every_dtd_on_their_own(entry: Entry) -> None:
    """Behind the prolog check, zeep's parser with ``safe_settings`` refuses them too."""
    data = entry.read()
    with pytest.raises(
        (
            zeep.exceptions.DTDForbidden,
            zeep.exceptions.EntitiesForbidden,
            zeep.exceptions.XMLSyntaxError,
        )
    ):
        parse_xml(data, None, settings=safe_settings())  # type: ignore[arg-type]


def _sessions(tmp_path: Path) -> sessionmaker[Session]:
    from canonical_model.store import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'gridhub.db'}")
    upgrade(engine)
    return session_factory(engine)


def _count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize(
    "name", ["xxe_file.xml", "billion_laughs.xml", "truncated.xml", "html_error_page.xml"]
)
def test_a_refused_page_stops_the_sync_without_losing_the_pages_before_it(
    name: str, sim: HukouSimulator, relay: Relay, canary: socket.socket, tmp_path: Path
) -> None:
    (entry,) = [e for e in of_kind("soap") if e.file == f"soap/{name}"]
    relay.reset()
    relay.plan = {2: _body(entry, canary), 3: _body(entry, canary), 4: _body(entry, canary)}
    sessions = _sessions(tmp_path)
    config = config_for(sim, service_url=relay.url, page_size=100, max_retries=2, map_workers=0)
    adapter = create_adapter(config)
    with pytest.raises(SourceUnavailable):
        sync_stream(adapter, "persons", sessions, checkpoint_every=40)
    adapter.close()
    assert _count(sessions, SourceRecord) == 100  # page 1, whole; nothing of page 2
    with sessions() as s:
        state = s.get(SyncState, ("hukou", "persons"))
        assert state is not None
        assert state.cursor
    relay.reset()
    adapter = create_adapter(config)
    report = sync_stream(adapter, "persons", sessions, checkpoint_every=40)
    adapter.close()
    assert report.error is None
    with sessions() as s:
        keys = list(s.scalars(select(SourceRecord.source_key)))
    assert len(keys) == len(set(keys)) == PERSONS - _count(sessions, Quarantine)
    assert not _connected(canary)


def test_bad_resident_ids_in_the_register_are_quarantined_and_the_rest_stored(
    tmp_path: Path,
) -> None:
    from tests.corpus.test_corpus_resident_ids import _cases

    cases = _cases()
    planted = [person(c.text, name=f"居民{i}") for i, c in enumerate(cases)]
    planted += [person(valid_id(seq=600 + i), name=f"对照{i}") for i in range(5)]
    with HukouSimulator(planted, seed=1) as planted_sim:
        sessions = _sessions(tmp_path)
        adapter = create_adapter(config_for(planted_sim, map_workers=0))
        report = sync_stream(adapter, "persons", sessions, checkpoint_every=7)
        adapter.close()
    with sessions() as s:
        quarantined = dict(s.execute(select(Quarantine.source_key, Quarantine.reason_code)).all())
        stored = set(s.scalars(select(SourceRecord.source_key)))
    expected_bad = {c.text.strip(): c.hukou for c in cases if c.hukou != "ok"}
    assert {k: quarantined.get(k) for k in expected_bad} == expected_bad
    assert len(stored) == len(planted) - len(expected_bad)
    assert report.received == report.stored + report.unchanged + report.quarantined


def _reply_with(field: str, value: str) -> bytes:
    (seed,) = [e for e in of_kind("soap") if e.file == "soap/doctype_plain.xml"]
    text = seed.read().decode("utf-8").replace("<!DOCTYPE soap:Envelope>\n", "")
    if field == "name":
        return text.replace("<h:name>张三</h:name>", f"<h:name>{value}</h:name>").encode()
    return text.replace(
        "<h:status>", f"<h:registeredAddress>{value}</h:registeredAddress><h:status>"
    ).encode()


@pytest.mark.parametrize("field", ["name", "address"])
def test_oversized_fields_in_a_reply_never_become_canonical_data(
    field: str, sim: HukouSimulator, relay: Relay, tmp_path: Path
) -> None:
    (seed,) = [e for e in of_kind("oversized") if e.params["field"] == field]
    value = grow(seed.read(), int(seed.params["grow_to"])).decode("utf-8")
    relay.reset()
    relay.always = _reply_with(field, value)
    sessions = _sessions(tmp_path)
    adapter = create_adapter(config_for(sim, service_url=relay.url, max_retries=1, map_workers=0))
    try:
        report = sync_stream(adapter, "persons", sessions)
    except SourceUnavailable as exc:
        outcome = f"refused: {exc}"
    else:
        outcome = f"stored {report.stored}, quarantined {report.quarantined}"
    finally:
        adapter.close()
    with sessions() as s:
        canonical = [r.canonical for r in s.scalars(select(SourceRecord))]
        reasons = list(s.scalars(select(Quarantine.reason_code)))
    # The engine's per-record size limit (GRIDHUB_SYNC_MAX_RECORD_BYTES) quarantines the whole
    # record before mapping: no truncated name or address is ever read out of it.
    assert canonical == [], outcome
    assert reasons == ["schema.oversized"], outcome
