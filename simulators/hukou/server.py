"""The 户籍 SOAP service over HTTP: ``GET …?wsdl``, ``POST`` SOAP, and a small admin API.

The admin API (``/admin/…``, JSON, guarded by a per-run token) is how tests and the demo
change data and inject faults, whether the simulator runs in a thread or in a subprocess.
"""

from __future__ import annotations

import hmac
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from simulators.hukou import soap
from simulators.hukou.faults import FaultPlan, Injection
from simulators.hukou.store import BadPageToken, HukouPerson, PersonStore, parse_ts
from simulators.hukou.wssec import AuthError, UsernameTokenVerifier

__all__ = ["HukouService", "SimulatorServer", "make_server"]

DEFAULT_PAGE_SIZE = 100
_XML = "text/xml; charset=utf-8"


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = _XML
    headers: dict[str, str] = field(default_factory=dict)
    cut_connection: bool = False  # announce the whole body, send half, close


@dataclass(slots=True)
class Stats:
    soap_requests: int = 0
    pages: int = 0
    records: int = 0
    auth_failures: int = 0
    faults: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "soap_requests": self.soap_requests,
            "pages": self.pages,
            "records": self.records,
            "auth_failures": self.auth_failures,
            "faults": self.faults,
        }


class HukouService:
    """What the service does, independent of HTTP."""

    def __init__(
        self,
        store: PersonStore,
        verifier: UsernameTokenVerifier,
        *,
        max_page_size: int = 5000,
    ) -> None:
        self.store = store
        self.verifier = verifier
        self.faults = FaultPlan()
        self.stats = Stats()
        self.max_page_size = max_page_size
        self._lock = threading.Lock()

    def wsdl(self, address: str) -> bytes:
        text = files("simulators.hukou").joinpath("hukou.wsdl").read_text(encoding="utf-8")
        return text.replace("__SERVICE_ADDRESS__", address).encode("utf-8")

    def handle(self, body: bytes) -> Reply:
        with self._lock:
            self.stats.soap_requests += 1
        try:
            request = soap.parse_request(body)
        except soap.SoapRequestError as exc:
            return _client_fault(exc.code, exc.message)
        page = self._page_number(request)
        injected = self.faults.take(request.operation, page)
        if injected is not None:
            with self._lock:
                self.stats.faults += 1
            early = self._inject(injected)
            if early is not None:
                return early
        reply = self._serve(request)
        if injected is not None and injected.kind == "truncate":
            return Reply(reply.status, reply.body[: len(reply.body) // 2])
        if injected is not None and injected.kind == "disconnect":
            reply.cut_connection = True
        return reply

    def _serve(self, request: soap.SoapRequest) -> Reply:
        try:
            self.verifier.verify(request.header)
        except AuthError as exc:
            with self._lock:
                self.stats.auth_failures += 1
            return Reply(500, soap.fault(exc.code, exc.message, "AUTH_FAILED"))
        if request.operation == "QueryChangedPersons":
            return self._query(request)
        if request.operation == "GetPersonByIdNumber":
            return self._get(request)
        return _client_fault("UNKNOWN_OPERATION", "no such operation")

    def _page_number(self, request: soap.SoapRequest) -> int | None:
        if request.operation != "QueryChangedPersons":
            return None
        token = request.params.get("pageToken")
        if not token:
            return 1
        try:
            return self.store.read_token(token)[1]
        except BadPageToken:
            return None

    def _query(self, request: soap.SoapRequest) -> Reply:
        p = request.params
        try:
            size = int(p.get("pageSize") or DEFAULT_PAGE_SIZE)
        except ValueError:
            return _client_fault("INVALID_PAGE_SIZE", "pageSize is not an integer")
        if not 1 <= size <= self.max_page_size:
            return _client_fault(
                "INVALID_PAGE_SIZE", f"pageSize must be between 1 and {self.max_page_size}"
            )
        token = p.get("pageToken")
        if token:
            try:
                after, page = self.store.read_token(token)
            except BadPageToken:
                return _client_fault("INVALID_PAGE_TOKEN", "the page token is not valid")
        else:
            page = 1
            since_text = p.get("since")
            try:
                since = parse_ts(since_text) if since_text else -(2**62)
            except ValueError:
                return _client_fault("INVALID_ARGUMENT", "since is not an xsd:dateTime")
            after = (since, p.get("afterId") or "")
        persons, more = self.store.page(after, size)
        next_token = None
        if more and persons:
            next_token = self.store.issue_token(persons[-1].key, page + 1)
        with self._lock:
            self.stats.pages += 1
            self.stats.records += len(persons)
        return Reply(200, soap.query_response(persons, next_token))

    def _get(self, request: soap.SoapRequest) -> Reply:
        id_number = (request.params.get("idNumber") or "").strip()
        person = self.store.get(id_number) if id_number else None
        if person is None:
            return _client_fault("NOT_FOUND", "no person with this id number")
        return Reply(200, soap.get_person_response(person))

    def _inject(self, inj: Injection) -> Reply | None:
        """The reply an injected fault gives instead of the real one; None lets the request
        through (after a delay, or to be cut by ``handle``)."""
        if inj.kind == "delay":
            time.sleep(inj.delay_s)
            return None
        if inj.kind == "http_500":
            return Reply(500, b"<html><body>Internal Server Error</body></html>", "text/html")
        if inj.kind == "http_503":
            return Reply(503, b"Service Unavailable", "text/plain", {"Retry-After": "1"})
        if inj.kind == "soap_fault":
            code = "SERVICE_BUSY" if inj.fault_code == "Server" else "REQUEST_REJECTED"
            return Reply(500, soap.fault(f"soap:{inj.fault_code}", "injected fault", code))
        if inj.kind == "malformed":
            return Reply(
                200,
                b'<?xml version="1.0"?><soap:Envelope xmlns:soap="'
                + soap.SOAP_ENV.encode()
                + b'"><soap:Body><QueryChangedPersonsResponse><person></soap:Body>',
            )
        if inj.kind == "xxe":
            return Reply(200, soap.xxe())
        if inj.kind == "billion_laughs":
            return Reply(200, soap.billion_laughs())
        return None

    # -- admin ---------------------------------------------------------------------------

    def admin(self, method: str, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
        if method == "POST" and path == "/admin/touch":
            return 200, {"ids": self.store.touch(int(payload.get("n", 1)))}
        if method == "POST" and path == "/admin/put":
            self.store.put(HukouPerson.from_fields(payload["person"]))
            return 200, {}
        if method == "POST" and path == "/admin/faults":
            self.faults.add(Injection(**payload))
            return 200, {}
        if method == "DELETE" and path == "/admin/faults":
            self.faults.clear()
            return 200, {}
        if method == "GET" and path == "/admin/stats":
            return 200, {
                "persons": len(self.store),
                **self.stats.as_dict(),
                "pending_faults": self.faults.pending(),
            }
        if method == "GET" and path == "/admin/snapshot":
            return 200, {"persons": self.store.snapshot()}
        return 404, {"error": "no such admin call"}


def _client_fault(code: str, message: str) -> Reply:
    return Reply(500, soap.fault("soap:Client", message, code))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SimulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the simulator is a test peer, and request lines are noise in pytest."""

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > soap.MAX_REQUEST_BYTES:
            return b"\0" * (soap.MAX_REQUEST_BYTES + 1)  # parse_request refuses it
        return self.rfile.read(length) if length > 0 else b""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/admin/"):
            self._admin("GET", url.path)
        elif url.path == self.server.path and url.query.lower() == "wsdl":
            body = self.server.service.wsdl(self.server.address)
            self._send(200, body, _XML, {})
        else:
            self._send(404, b"not found", "text/plain", {})

    def do_DELETE(self) -> None:
        self._admin("DELETE", urlsplit(self.path).path)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/admin/"):
            self._admin("POST", url.path)
            return
        body = self._read_body()
        if url.path != self.server.path:
            self._send(404, b"not found", "text/plain", {})
            return
        reply = self.server.service.handle(body)
        if reply.cut_connection:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(reply.status, reply.body, reply.content_type, reply.headers)

    def _admin(self, method: str, path: str) -> None:
        given = self.headers.get("X-Admin-Token", "")
        if not hmac.compare_digest(given.encode(), self.server.admin_token.encode()):
            self._send(403, b'{"error":"forbidden"}', "application/json", {})
            return
        raw = self._read_body() if method == "POST" else b""
        try:
            payload = json.loads(raw) if raw else {}
            status, result = self.server.service.admin(method, path, payload)
        except (ValueError, KeyError, TypeError) as exc:
            status, result = 400, {"error": f"{type(exc).__name__}: {exc}"}
        self._send(status, json.dumps(result, ensure_ascii=False).encode(), "application/json", {})


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    service: HukouService
    admin_token: str
    path: str

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a timeout test, a killed sync) is not a server error."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):
            return
        super().handle_error(request, client_address)

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{name}:{port}{self.path}"


def make_server(
    service: HukouService,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    path: str = "/hukou",
    admin_token: str,
) -> SimulatorServer:
    """A bound, not yet serving HTTP server (call ``serve_forever`` in a thread)."""
    server = SimulatorServer((host, port), _Handler)
    server.service = service
    server.admin_token = admin_token
    server.path = path
    return server
