"""A FHIR R4 REST server over HTTP/1.1: search with ``_lastUpdated``, ``_count``,
``_sort=_lastUpdated`` and Bundle paging through ``next`` links; read; ``metadata``.

What it refuses, it refuses as a real server does — an OperationOutcome with a 4xx — so
the adapter meets the same answers in tests as in a district. The admin API (``/admin/…``,
JSON, guarded by a per-run token) changes data and injects faults.
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
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from simulators.health.faults import FaultPlan, Injection
from simulators.health.store import TYPES, BadSearch, ResourceStore, SearchGone

__all__ = ["FhirService", "SimulatorServer", "make_server"]

FHIR_JSON = "application/fhir+json; charset=utf-8"
DEFAULT_COUNT = 50
_SEARCH_PARAMS = frozenset({"_lastUpdated", "_count", "_sort", "_format", "_total"})


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = FHIR_JSON
    headers: dict[str, str] = field(default_factory=dict)
    cut_connection: bool = False


def outcome(status: int, code: str, diagnostics: str) -> Reply:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }
    return Reply(status, json.dumps(body, ensure_ascii=False).encode("utf-8"))


class FhirService:
    """What the server does, independent of HTTP."""

    def __init__(
        self,
        store: ResourceStore,
        *,
        truth: dict[str, Any] | None = None,
        token: str | None = None,
        max_count: int = 1000,
    ) -> None:
        self.store = store
        self.truth = truth or {}
        self.token = token
        self.max_count = max_count
        self.faults = FaultPlan()
        self.stats: dict[str, int] = dict.fromkeys(
            ("requests", "searches", "pages", "resources", "faults", "auth_failures"), 0
        )
        self._lock = threading.Lock()

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.stats[key] += n

    def handle(self, base: str, path: str, query: str, auth: str | None) -> Reply:
        self._count("requests")
        if self.token is not None and not hmac.compare_digest(
            (auth or "").encode(), f"Bearer {self.token}".encode()
        ):
            self._count("auth_failures")
            return outcome(401, "login", "a valid bearer token is required")
        rel = path[len(urlsplit(base).path) :].strip("/")
        params = parse_qsl(query, keep_blank_values=True)
        if rel == "metadata":
            return Reply(200, _capability())
        if rel == "" and any(k == "_getpages" for k, _ in params):
            return self._paged(base, path, query, dict(params))
        parts = rel.split("/")
        if parts[0] not in TYPES:
            return outcome(404, "not-supported", f"unknown resource type {parts[0]!r}")
        if len(parts) == 2:
            body = self.store.read(parts[0], parts[1])
            if body is None:
                return outcome(404, "not-found", f"{parts[0]}/{parts[1]} is not known")
            return Reply(200, body)
        return self._search(base, path, query, parts[0], params)

    def _search(
        self, base: str, path: str, query: str, rtype: str, params: list[tuple[str, str]]
    ) -> Reply:
        unknown = sorted({k for k, _ in params} - _SEARCH_PARAMS)
        if unknown:
            return outcome(400, "not-supported", f"unknown search parameter {unknown[0]}")
        values = dict(params)
        if values.get("_sort", "_lastUpdated") != "_lastUpdated":
            return outcome(400, "not-supported", "only _sort=_lastUpdated is supported")
        try:
            count = self._parse_count(values.get("_count"))
            bounds = []
            for k, v in params:
                if k == "_lastUpdated":
                    prefix, value = (v[:2], v[2:]) if v[:2].isalpha() else ("eq", v)
                    bounds.append((prefix, value))
            sid, _total, _taken = self.store.search(rtype, bounds)
        except BadSearch as exc:
            return outcome(400, "invalid", str(exc))
        self._count("searches")
        return self._page(base, f"{path}?{query}", sid, 0, count, page=1)

    def _parse_count(self, raw: str | None) -> int:
        if raw is None:
            return DEFAULT_COUNT
        try:
            count = int(raw)
        except ValueError:
            raise BadSearch("_count must be an integer") from None
        if count < 1:
            raise BadSearch("_count must be at least 1")
        return min(count, self.max_count)

    def _paged(self, base: str, path: str, query: str, values: dict[str, str]) -> Reply:
        try:
            offset = int(values.get("_getpagesoffset", "0"))
            count = self._parse_count(values.get("_count"))
        except (ValueError, BadSearch) as exc:
            return outcome(400, "invalid", str(exc))
        return self._page(
            base, f"{path}?{query}", values["_getpages"], offset, count, page=offset // count + 1
        )

    def _page(
        self, base: str, self_url: str, sid: str, offset: int, count: int, page: int
    ) -> Reply:
        root = base[: len(base) - len(urlsplit(base).path)]
        try:
            rtype = self.store.page(sid, 0, 0)[3]
        except SearchGone:
            return outcome(410, "not-found", "the search has expired; start it again")
        injected = self.faults.take(rtype, page)
        if injected is not None:
            self._count("faults")
            early = _inject(injected)
            if early is not None:
                return early
        items, total, taken, _ = self.store.page(sid, offset, count)
        links = [{"relation": "self", "url": root + self_url}]
        if injected is not None and injected.kind == "paging_loop":
            links.append({"relation": "next", "url": root + self_url})
        elif offset + count < total:
            nxt = f"{base}?_getpages={sid}&_getpagesoffset={offset + count}&_count={count}"
            links.append({"relation": "next", "url": nxt + "&_bundletype=searchset"})
        head = {
            "resourceType": "Bundle",
            "id": sid,
            "meta": {"lastUpdated": taken},
            "type": "searchset",
            "total": total,
            "link": links,
        }
        entries = b",".join(
            b'{"fullUrl":"'
            + f"{base}/{s.rtype}/{s.rid}".encode()
            + b'","resource":'
            + s.body
            + b',"search":{"mode":"match"}}'
            for s in items
        )
        body = json.dumps(head, ensure_ascii=False).encode("utf-8")[:-1]
        body += b',"entry":[' + entries + b"]}"
        self._count("pages")
        self._count("resources", len(items))
        reply = Reply(200, body)
        if injected is not None and injected.kind == "malformed":
            reply.body = body[: len(body) // 2]
        if injected is not None and injected.kind == "disconnect":
            reply.cut_connection = True
        return reply

    # -- admin ---------------------------------------------------------------------------

    def admin(self, method: str, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
        if method == "POST" and path == "/admin/touch":
            ids = self.store.touch(
                str(payload.get("resource", "Patient")), int(payload.get("n", 1))
            )
            return 200, {"ids": ids}
        if method == "POST" and path == "/admin/put":
            return 200, {"lastUpdated": self.store.put(payload["resource"])}
        if method == "POST" and path == "/admin/faults":
            self.faults.add(Injection(**payload))
            return 200, {}
        if method == "DELETE" and path == "/admin/faults":
            self.faults.clear()
            return 200, {}
        if method == "GET" and path == "/admin/stats":
            with self._lock:
                stats = dict(self.stats)
            counts = {t: self.store.count(t) for t in TYPES}
            return 200, {**stats, "counts": counts, "pending_faults": self.faults.pending()}
        if method == "GET" and path == "/admin/snapshot":
            return 200, {"resources": self.store.snapshot()}
        if method == "GET" and path == "/admin/truth":
            return 200, self.truth
        return 404, {"error": "no such admin call"}


def _inject(inj: Injection) -> Reply | None:
    """The reply an injected fault gives instead of the real one; None lets the request
    through (after a delay, or to be changed by ``_page``)."""
    if inj.kind == "delay":
        time.sleep(inj.delay_s)
        return None
    if inj.kind == "operation_outcome":
        code = "exception" if inj.status >= 500 else "invalid"
        reply = outcome(inj.status, code, "injected failure")
        if inj.status in (429, 503):
            reply.headers["Retry-After"] = "1"
        return reply
    if inj.kind == "http_error":
        page = f"<html><body><h1>{inj.status} Bad Gateway</h1>nginx</body></html>"
        return Reply(inj.status, page.encode(), "text/html")
    return None


def _capability() -> bytes:
    search = [{"name": "_lastUpdated", "type": "date"}]
    body = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2025-01-01",
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "resource": [
                    {
                        "type": t,
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": search,
                    }
                    for t in TYPES
                ],
            }
        ],
    }
    return json.dumps(body).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SimulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the simulator is a test peer, and request lines are noise in pytest."""

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if reply.cut_connection:
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(reply.body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/admin/"):
            self._admin("GET", url.path)
        elif url.path == self.server.path or url.path.startswith(self.server.path + "/"):
            auth = self.headers.get("Authorization")
            reply = self.server.service.handle(self.server.address, url.path, url.query, auth)
            self._send(reply)
        else:
            self._send(Reply(404, b"not found", "text/plain"))

    def do_DELETE(self) -> None:
        self._admin("DELETE", urlsplit(self.path).path)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/admin/"):
            self._admin("POST", url.path)
        else:
            self._send(outcome(405, "not-supported", "this server is read-only"))

    def _admin(self, method: str, path: str) -> None:
        given = self.headers.get("X-Admin-Token", "")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if not hmac.compare_digest(given.encode(), self.server.admin_token.encode()):
            self._send(Reply(403, b'{"error":"forbidden"}', "application/json"))
            return
        try:
            payload = json.loads(raw) if raw else {}
            status, result = self.server.service.admin(method, path, payload)
        except (ValueError, KeyError, TypeError) as exc:
            status, result = 400, {"error": f"{type(exc).__name__}: {exc}"}
        body = json.dumps(result, ensure_ascii=False).encode()
        self._send(Reply(status, body, "application/json"))


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    service: FhirService
    admin_token: str
    path: str

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a timeout test, a killed sync) is not a server error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    @property
    def address(self) -> str:
        host, port = self.socket.getsockname()[:2]
        return f"http://{host}:{port}{self.path}"


def make_server(
    service: FhirService,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    path: str = "/fhir",
    admin_token: str,
) -> SimulatorServer:
    """A bound, not yet serving HTTP server (call ``serve_forever`` in a thread)."""
    server = SimulatorServer((host, port), _Handler)
    server.service = service
    server.admin_token = admin_token
    server.path = path
    return server
