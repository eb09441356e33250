"""Keys, health, readiness, metrics, and the ``gridhub serve`` commands."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from api import ApiConfig, Hub, create_app
from canonical_model.store import make_engine
from gridhub.cli.serve import app as serve_app
from identity import verify_token
from tests.api.district import AUDIENCE, ISSUER, P1_ID, Seeded, Settings, Tokens, bearer


def test_jwks_verifies_the_hubs_tokens(client: TestClient, tokens: Tokens, hub: Hub) -> None:
    token = tokens.w1
    r = client.get("/.well-known/jwks.json")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=300"
    keys = r.json()["keys"]
    assert [k["kid"] for k in keys] == [hub.ring.active().kid]
    assert all("d" not in k for k in keys)  # public members only
    assert verify_token(token, issuer=ISSUER, audience=AUDIENCE, ring=hub.ring).subject == "W1"


def test_health_and_readiness(client: TestClient, settings: Settings) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}
    broken = Hub.from_settings(
        settings,
        ApiConfig(),
        sessions=sessionmaker(
            make_engine("postgresql://nobody@127.0.0.1:9/none?connect_timeout=2")
        ),
    )
    with TestClient(create_app(settings, hub=broken)) as down:
        r = down.get("/readyz")
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert down.get("/healthz").status_code == 200


def test_metrics_are_labelled_by_route_template(
    client: TestClient, tokens: Tokens, seeded: Seeded
) -> None:
    client.get(f"/api/v1/persons/{seeded.p1}", headers=bearer(tokens.w1))
    client.get("/no/such/route")
    text = client.get("/metrics").text
    assert 'route="/api/v1/persons/{uid}",status="200"' in text
    assert 'route="unmatched"' in text
    assert seeded.p1 not in text
    assert "gridhub_http_request_duration_seconds_bucket" in text


def test_serve_commands_default_to_loopback() -> None:
    runner = CliRunner()
    api_help = runner.invoke(serve_app, ["api", "--help"], terminal_width=200).output
    assert "127.0.0.1" in api_help
    assert "8000" in api_help
    grpc_help = runner.invoke(serve_app, ["grpc", "--help"], terminal_width=200).output
    assert "127.0.0.1" in grpc_help
    assert "50051" in grpc_help
    assert "--client-ca" in grpc_help


def test_grpc_refuses_plain_tcp_beyond_loopback() -> None:
    result = CliRunner().invoke(serve_app, ["grpc", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing plain TCP" in result.output


def test_access_lines_name_the_route_never_the_query(
    client: TestClient, tokens: Tokens, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gridhub.api.access"):
        client.get("/api/v1/persons", params={"q": P1_ID}, headers=bearer(tokens.w1))
        client.get(f"/api/v1/persons/{seeded.p1}", headers=bearer(tokens.w1))
    lines = [r.getMessage() for r in caplog.records if r.name == "gridhub.api.access"]
    assert any(line.startswith("GET /api/v1/persons 200 ") for line in lines)
    assert any(line.startswith("GET /api/v1/persons/{uid} 200 ") for line in lines)
    assert not any(P1_ID in line or seeded.p1 in line for line in lines)
