"""Malformed FHIR resources and Bundles, fed to the health adapter's own parsers.

A resource meets ``map_resource`` (fhir.resources R4B validation, then mapping) exactly as
a search page's entries do; each is refused with its code and the failing element paths,
never the values. A broken Bundle is served over HTTP on loopback to the real
``FhirClient``: the search stops with ``SourceUnavailable`` naming what was wrong.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from adapters.contract import RecordRejected, SourceUnavailable
from adapters.health import HealthConfig
from adapters.health.client import FhirClient
from adapters.health.parallel import map_resource
from tests.corpus.corpus import Entry, of_kind

SYSTEMS = ("urn:oid:2.16.840.1.113883.2.23.1.1.1",)


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.file) for e in of_kind("fhir")])
def test_each_resource_is_refused_with_its_reason(entry: Entry) -> None:
    resource: Any = json.loads(entry.read())
    with pytest.raises(RecordRejected) as caught:
        map_resource(resource, entry.params["resource_type"], SYSTEMS)
    assert caught.value.reason_code == entry.expect
    assert "张伟" not in caught.value.reason
    assert "330106" not in caught.value.reason


def test_a_valid_patient_beside_them_maps() -> None:
    (base,) = [e for e in of_kind("fhir") if e.file.endswith("patient_unknown_element.json")]
    resource = json.loads(base.read())
    del resource["favouriteColour"]
    canonical = map_resource(resource, "Patient", SYSTEMS)
    assert canonical["name"] == "张伟"
    assert canonical["resident_id"] is not None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    body = b""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)


@pytest.fixture(scope="module")
def fhir_server() -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.integration
@pytest.mark.parametrize("entry", [pytest.param(e, id=e.file) for e in of_kind("fhir_bundle")])
def test_a_broken_bundle_stops_the_search_with_a_clear_reason(
    entry: Entry, fhir_server: _Server
) -> None:
    fhir_server.body = entry.read()
    port = fhir_server.server_address[1]
    config = HealthConfig(base_url=f"http://127.0.0.1:{port}/fhir", max_retries=1, backoff_s=0)
    client = FhirClient(config)
    try:
        with pytest.raises(SourceUnavailable) as caught:
            list(client.search("Patient", None))
    finally:
        client.close()
    assert "not JSON" in str(caught.value)
    assert "张伟" not in str(caught.value)
